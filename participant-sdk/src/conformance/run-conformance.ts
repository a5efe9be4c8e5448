import { CONFORMANCE_RULES, type ConformanceRule } from "./conformance-rules.js";
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
  const rules = selectRules(options.rules);
  const ctx = {
    probe,
    call: {
      step: options.step,
      payload: options.payload ?? Buffer.from("{}"),
      contentType: options.contentType ?? "application/json",
    },
    concurrency: options.concurrency ?? 20,
    timeoutMs,
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

function selectRules(ids: string[] | undefined): ConformanceRule[] {
  if (!ids || ids.length === 0) return CONFORMANCE_RULES;
  const unknown = ids.filter((id) => !CONFORMANCE_RULES.some((r) => r.id === id));
  if (unknown.length > 0) {
    const known = CONFORMANCE_RULES.map((r) => r.id).join(", ");
    throw new TypeError(`unknown rule ${unknown.join(", ")}; rules: ${known}`);
  }
  return CONFORMANCE_RULES.filter((r) => ids.includes(r.id));
}
