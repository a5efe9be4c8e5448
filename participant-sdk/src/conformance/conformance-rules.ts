import { randomUUID } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { checkHealth } from "../grpc/health-client.js";
import type { EffectCounts } from "./effects-protocol.js";
import { describeAnswer, type ParticipantProbe, type ProbeStep } from "./participant-probe.js";

/** What a rule needs. */
export interface RuleContext {
  probe: ParticipantProbe;
  /** The step under test, with the payload to call it with. */
  call: ProbeStep;
  /** How many identical Executes the concurrency rule fires at once. */
  concurrency: number;
  timeoutMs: number;
  /** Restarts the participant and resolves once it serves again (only with --restart-cmd). */
  restart?: () => Promise<void>;
}

/** One protocol rule the kit checks. */
export interface ConformanceRule {
  /** Stable id, printed in the report: "duplicate-execute". */
  id: string;
  /** What the participant must do. */
  title: string;
  /** Resolves with a detail on success; throws (RuleFailure or any error) with the reason on failure. */
  check(ctx: RuleContext): Promise<string>;
}

/** A rule's expectation that did not hold. */
export class RuleFailure extends Error {
  override readonly name = "RuleFailure";
}

function expectEffects(actual: EffectCounts, executed: number, compensated: number, what: string): void {
  if (actual.executed !== executed || actual.compensated !== compensated) {
    throw new RuleFailure(
      `${what}: effects applied executed=${actual.executed} compensated=${actual.compensated}, ` +
        `want executed=${executed} compensated=${compensated}`,
    );
  }
}

async function executeOk(ctx: RuleContext, sagaId: string, attempt: number, what: string): Promise<Buffer> {
  const answer = await ctx.probe.executeUntilDecided(sagaId, ctx.call, attempt);
  if (!answer.ok) {
    throw new RuleFailure(
      `${what} answered ${describeAnswer(answer)}, want OK (is --payload valid for this step?)`,
    );
  }
  return answer.output;
}

async function compensateOk(ctx: RuleContext, sagaId: string, output: Buffer, attempt: number, what: string) {
  const answer = await ctx.probe.compensate(sagaId, ctx.call, output, attempt);
  if (!answer.ok) throw new RuleFailure(`${what} answered ${describeAnswer(answer)}, want OK`);
}

/** Output bytes for a report: quoted text when printable UTF-8, else hex; cut at 60 characters. */
function preview(bytes: Buffer): string {
  const text = bytes.toString("utf8");
  const printable = Buffer.from(text, "utf8").equals(bytes) && ![...text].some((c) => c.charCodeAt(0) < 0x20);
  const shown = printable ? JSON.stringify(text) : `0x${bytes.toString("hex")}`;
  return shown.length > 60 ? `${shown.slice(0, 57)}...` : shown;
}

/** The rules, in the order they run. */
export const CONFORMANCE_RULES: ConformanceRule[] = [
  {
    id: "health",
    title: "grpc.health.v1 Check answers SERVING",
    async check(ctx) {
      const serving = await checkHealth(ctx.probe.target, "", ctx.timeoutMs);
      if (serving !== "SERVING") throw new RuleFailure(`health answered ${serving}, want SERVING`);
      return "SERVING";
    },
  },
  {
    id: "effect-count-step",
    title: "the conformance.effects step reports zero effects for an unused key",
    async check(ctx) {
      const sagaId = `conformance-${randomUUID()}`;
      expectEffects(await ctx.probe.effects(sagaId, ctx.call.step), 0, 0, "fresh key");
      return '{"executed":0,"compensated":0}';
    },
  },
  {
    id: "duplicate-execute",
    title: "a repeated Execute returns the same output and applies the effect once",
    async check(ctx) {
      const sagaId = `conformance-${randomUUID()}`;
      const first = await executeOk(ctx, sagaId, 1, "first Execute");
      const second = await executeOk(ctx, sagaId, 2, "repeated Execute");
      const problems: string[] = [];
      try {
        expectEffects(await ctx.probe.effects(sagaId, ctx.call.step), 1, 0, "after two Executes");
      } catch (err) {
        problems.push((err as Error).message);
      }
      if (!first.equals(second))
        problems.push(`outputs differ: first ${preview(first)}, repeat ${preview(second)}`);
      if (problems.length > 0) throw new RuleFailure(problems.join("; "));
      return `same ${first.length}-byte output, one effect`;
    },
  },
  {
    id: "concurrent-execute",
    title: "concurrent duplicate Executes run the effect once and all return its output",
    async check(ctx) {
      const sagaId = `conformance-${randomUUID()}`;
      const answers = await Promise.all(
        Array.from({ length: ctx.concurrency }, (_, i) =>
          ctx.probe.executeUntilDecided(sagaId, ctx.call, 1 + i),
        ),
      );
      const failed = answers.find((a) => !a.ok);
      if (failed) throw new RuleFailure(`an Execute answered ${describeAnswer(failed)}, want OK`);
      const outputs = new Set(answers.map((a) => (a.ok ? a.output.toString("hex") : "")));
      if (outputs.size !== 1) throw new RuleFailure(`${outputs.size} different outputs, want 1`);
      expectEffects(
        await ctx.probe.effects(sagaId, ctx.call.step),
        1,
        0,
        `after ${ctx.concurrency} concurrent Executes`,
      );
      return `${ctx.concurrency} concurrent calls, one effect, one output`;
    },
  },
  {
    id: "null-compensation",
    title: "Compensate for a step that never executed returns OK and applies nothing",
    async check(ctx) {
      const sagaId = `conformance-${randomUUID()}`;
      await compensateOk(ctx, sagaId, Buffer.alloc(0), 1, "Compensate without Execute");
      expectEffects(await ctx.probe.effects(sagaId, ctx.call.step), 0, 0, "after a null compensation");
      return "OK, no effect";
    },
  },
  {
    id: "hanging-execute",
    title: "an Execute after a null compensation is refused with ABORTED and applies nothing",
    async check(ctx) {
      const sagaId = `conformance-${randomUUID()}`;
      await compensateOk(ctx, sagaId, Buffer.alloc(0), 1, "Compensate without Execute");
      const late = await ctx.probe.executeUntilDecided(sagaId, ctx.call);
      if (late.ok || late.code !== status.ABORTED) {
        throw new RuleFailure(`late Execute answered ${describeAnswer(late)}, want ABORTED`);
      }
      expectEffects(await ctx.probe.effects(sagaId, ctx.call.step), 0, 0, "after the late Execute");
      return `ABORTED: ${late.details}`;
    },
  },
  {
    id: "repeated-compensate",
    title: "a repeated Compensate returns OK and undoes the effect once",
    async check(ctx) {
      const sagaId = `conformance-${randomUUID()}`;
      const output = await executeOk(ctx, sagaId, 1, "Execute");
      for (let attempt = 1; attempt <= 3; attempt++) {
        await compensateOk(ctx, sagaId, output, attempt, `Compensate #${attempt}`);
      }
      expectEffects(
        await ctx.probe.effects(sagaId, ctx.call.step),
        1,
        1,
        "after Execute and three Compensates",
      );
      return "three Compensates, one compensation";
    },
  },
  {
    id: "unknown-step",
    title: "an Execute for a step the participant does not implement answers FAILED_PRECONDITION",
    async check(ctx) {
      const step = `conformance.no-such-step-${randomUUID().slice(0, 8)}`;
      const answer = await ctx.probe.execute(`conformance-${randomUUID()}`, { ...ctx.call, step });
      if (!answer.ok && answer.code === status.FAILED_PRECONDITION) return describeAnswer(answer);
      // Other codes are retried by the coordinator (NOT_FOUND, UNAVAILABLE, ...) or stop the saga
      // for an operator (UNIMPLEMENTED on a retriable step): only a business "no" compensates at once.
      throw new RuleFailure(
        `Execute of unknown step "${step}" answered ${describeAnswer(answer)}; it must answer FAILED_PRECONDITION, the protocol's answer for a step a participant does not know (other codes are retried or stop the saga for an operator)`,
      );
    },
  },
];

/**
 * Run only with --restart-cmd: barrier records must survive a restart of the
 * participant. An in-memory barrier fails it: after the restart a repeated
 * Execute applies the effect again, a Compensate finds no record (a null
 * compensation that undoes nothing), and a late Execute after a null
 * compensation is no longer refused.
 */
export const DURABLE_BARRIER_RULE: ConformanceRule = {
  id: "durable-barrier",
  title: "barrier records survive a restart of the participant (--restart-cmd)",
  async check(ctx) {
    if (!ctx.restart) throw new RuleFailure("needs --restart-cmd, a command that restarts the participant");
    const executed = `conformance-${randomUUID()}`;
    const tombstoned = `conformance-${randomUUID()}`;
    const output = await executeOk(ctx, executed, 1, "Execute before the restart");
    await compensateOk(ctx, tombstoned, Buffer.alloc(0), 1, "Compensate without Execute before the restart");
    await ctx.restart();
    // The effect counts start again at zero with the process: what follows must apply nothing new.
    const again = await executeOk(ctx, executed, 2, "repeated Execute after the restart");
    expectEffects(
      await ctx.probe.effects(executed, ctx.call.step),
      0,
      0,
      "repeated Execute after the restart (the barrier forgot the first one)",
    );
    if (!again.equals(output)) {
      throw new RuleFailure(`output after the restart ${preview(again)} differs from ${preview(output)}`);
    }
    await compensateOk(ctx, executed, output, 1, "Compensate after the restart");
    expectEffects(
      await ctx.probe.effects(executed, ctx.call.step),
      0,
      1,
      "Compensate after the restart (the barrier forgot the Execute, so nothing was undone)",
    );
    const late = await ctx.probe.executeUntilDecided(tombstoned, ctx.call);
    if (late.ok || late.code !== status.ABORTED) {
      throw new RuleFailure(
        `late Execute after a null compensation and a restart answered ${describeAnswer(late)}, want ABORTED`,
      );
    }
    return "Execute replayed, Compensate undid it, late Execute ABORTED after the restart";
  },
};
