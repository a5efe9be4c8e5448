import { exec } from "node:child_process";
import { promisify } from "node:util";
import { checkHealth } from "../grpc/health-client.js";
import {
  CONFORMANCE_RULES,
  type ConformanceRule,
  DURABLE_BARRIER_RULE,
  RuleFailure,
} from "./conformance-rules.js";
import { ParticipantProbe } from "./participant-probe.js";

export interface ConformanceOptions {
  /** The participant's "host:port". */
  target: string;
  /** The step to test: it must take effect (and count it) for `payload`. */
  step: string;
  /** Payload of every Execute/Compensate of the step. Default "{}". */
  payload?: Buffer;
  /** Default "application/json". */
  contentType?: string;
  /** Deadline of each call. Default 5 s. */
  timeoutMs?: number;
  /** Identical Executes fired at once by the concurrency rule. Default 20. */
  concurrency?: number;
  /** Only these rule ids (default: all). */
  rules?: string[];
  /**
   * A shell command that restarts the participant (e.g. "docker restart payments");
   * adds the durable-barrier rule. The kit waits for it to exit, then for the
   * participant's health to be SERVING again.
   */
  restartCmd?: string;
  /** How long the restart may take, command and health together. Default 120 s. */
  restartTimeoutMs?: number;
}

export interface RuleResult {
  id: string;
  title: string;
  passed: boolean;
  /** What was seen, or why it failed. */
  detail: string;
  durationMs: number;
}

export interface ConformanceReport {
  target: string;
  step: string;
  passed: boolean;
  results: RuleResult[];
}

/**
 * Checks a participant (any language) against the saga.v1 participant
 * protocol. Every rule uses fresh random saga ids, so runs never interfere
 * with each other or with earlier runs.
 */
export async function runConformance(options: ConformanceOptions): Promise<ConformanceReport> {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const probe = new ParticipantProbe(options.target, timeoutMs);
  const rules = selectRules(options.rules, Boolean(options.restartCmd));
  const restartCmd = options.restartCmd;
  const ctx = {
    probe,
    call: {
      step: options.step,
      payload: options.payload ?? Buffer.from("{}"),
      contentType: options.contentType ?? "application/json",
    },
    concurrency: options.concurrency ?? 20,
    timeoutMs,
    restart: restartCmd
      ? () => restartParticipant(restartCmd, probe, options.restartTimeoutMs ?? 120_000)
      : undefined,
  };
  const results: RuleResult[] = [];
  try {
    // An unreachable target would fail every rule slowly (and pass none honestly): stop at once.
    await probe.reachable(timeoutMs);
    for (const rule of rules) {
      const started = Date.now();
      try {
        const detail = await rule.check(ctx);
        results.push({
          id: rule.id,
          title: rule.title,
          passed: true,
          detail,
          durationMs: Date.now() - started,
        });
      } catch (err) {
        const detail = err instanceof Error ? err.message : String(err);
        results.push({
          id: rule.id,
          title: rule.title,
          passed: false,
          detail,
          durationMs: Date.now() - started,
        });
      }
    }
  } finally {
    probe.close();
  }
  return { target: options.target, step: options.step, passed: results.every((r) => r.passed), results };
}

function selectRules(ids: string[] | undefined, canRestart: boolean): ConformanceRule[] {
  const all = canRestart ? [...CONFORMANCE_RULES, DURABLE_BARRIER_RULE] : CONFORMANCE_RULES;
  if (!ids || ids.length === 0) return all;
  if (!canRestart && ids.includes(DURABLE_BARRIER_RULE.id)) {
    throw new TypeError(
      `rule ${DURABLE_BARRIER_RULE.id} needs --restart-cmd, a command that restarts the participant`,
    );
  }
  const unknown = ids.filter((id) => !all.some((r) => r.id === id));
  if (unknown.length > 0) {
    const known = [...CONFORMANCE_RULES, DURABLE_BARRIER_RULE].map((r) => r.id).join(", ");
    throw new TypeError(`unknown rule ${unknown.join(", ")}; rules: ${known}`);
  }
  return all.filter((r) => ids.includes(r.id));
}

/** Runs `command` in a shell, then waits until the participant's health is SERVING; a new channel after. */
async function restartParticipant(
  command: string,
  probe: ParticipantProbe,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  try {
    await promisify(exec)(command, { timeout: timeoutMs });
  } catch (err) {
    const e = err as { code?: unknown; stderr?: string; message: string };
    throw new RuleFailure(`--restart-cmd failed (exit ${e.code ?? "?"}): ${(e.stderr || e.message).trim()}`);
  }
  for (;;) {
    const serving = await checkHealth(probe.target, "", 2_000).catch(() => "unreachable");
    if (serving === "SERVING") break;
    if (Date.now() > deadline) {
      throw new RuleFailure(`after --restart-cmd the participant's health was ${serving} until the deadline`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  probe.reconnect();
}
