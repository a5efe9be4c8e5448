import type { PlannedSaga, PlannedStep } from "./saga-mix.js";

// The chaos checker's saga invariants, as pure functions of what the run
// planned, what GetSaga says at the end and what the participants' ledgers
// recorded. Each returns one InvariantResult (one line of the report).

export interface InvariantResult {
  name: string;
  ok: boolean;
  /** One line: figures that back the verdict. */
  detail: string;
  /** The first few violations, each naming the saga/step/node concerned. */
  violations: string[];
}

/** A saga as GetSaga returned it at the end of the run (status names without the enum prefix). */
export interface FinalSaga {
  sagaId: string;
  /** "COMPLETED", "COMPENSATED", "RUNNING", ...; "MISSING" when GetSaga found nothing. */
  status: string;
  steps: FinalStep[];
}

export interface FinalStep {
  name: string;
  /** "SUCCEEDED", "COMPENSATED", "FAILED", "SKIPPED", "PENDING", ... */
  status: string;
  /** The effect id in the step's Execute output (TypeScript participant), if any. */
  effectId?: string;
  outcomeUnknown: boolean;
}

/** What a participant's ledger says about one step of one saga ("<saga_id>/<step>"). */
export interface EffectCount {
  applied: number;
  undone: number;
  /** Effect ids of the applies (TypeScript ledger only). */
  applyIds: string[];
  /** Epoch ms of each apply / undo (TypeScript ledger only). */
  applyTimes: number[];
  undoTimes: number[];
}

export type LedgerLookup = (key: string) => EffectCount;

export const NO_EFFECT: EffectCount = { applied: 0, undone: 0, applyIds: [], applyTimes: [], undoTimes: [] };

const MAX_VIOLATIONS = 8;

function result(name: string, violations: string[], detail: string): InvariantResult {
  return {
    name,
    ok: violations.length === 0,
    detail: violations.length === 0 ? detail : `${violations.length} violation(s); ${detail}`,
    violations: violations.slice(0, MAX_VIOLATIONS),
  };
}

function key(saga: { sagaId: string }, step: { name: string }): string {
  return `${saga.sagaId}/${step.name}`;
}

function counts(c: EffectCount): string {
  return `applied ${c.applied}, undone ${c.undone}`;
}

/** Every saga is COMPLETED or COMPENSATED. */
export function everySagaTerminal(finals: readonly FinalSaga[]): InvariantResult {
  const byStatus = new Map<string, number>();
  const violations: string[] = [];
  for (const s of finals) {
    byStatus.set(s.status, (byStatus.get(s.status) ?? 0) + 1);
    if (s.status !== "COMPLETED" && s.status !== "COMPENSATED") {
      const open = s.steps.filter((st) => st.status !== "SUCCEEDED" && st.status !== "PENDING");
      violations.push(
        `${s.sagaId} is ${s.status} (${open.map((st) => `${st.name} ${st.status}`).join(", ")})`,
      );
    }
  }
  const figures = [...byStatus].map(([status, n]) => `${n} ${status}`).join(", ");
  return result("every saga terminal", violations, `${finals.length} sagas: ${figures}`);
}

/** Each saga ended as designed: business refusals compensate, everything else completes. */
export function designedOutcomes(planned: readonly PlannedSaga[], finals: ReadonlyMap<string, FinalSaga>) {
  const violations: string[] = [];
  for (const p of planned) {
    const status = finals.get(p.sagaId)?.status ?? "MISSING";
    if (status !== p.expected)
      violations.push(`${p.sagaId} (${p.shape}) is ${status}, designed ${p.expected}`);
  }
  return result("every saga reached its designed outcome", violations, `${planned.length} sagas checked`);
}

/** COMPLETED sagas: every step applied exactly once and never undone. */
export function completedExactlyOnce(
  planned: readonly PlannedSaga[],
  finals: ReadonlyMap<string, FinalSaga>,
  ledger: LedgerLookup,
): InvariantResult {
  const violations: string[] = [];
  let sagas = 0;
  for (const p of planned) {
    if (finals.get(p.sagaId)?.status !== "COMPLETED") continue;
    sagas++;
    for (const step of p.steps) {
      const c = ledger(key(p, step));
      if (c.applied !== 1 || c.undone !== 0) violations.push(`${key(p, step)}: ${counts(c)}`);
    }
  }
  return result(
    "COMPLETED sagas: each effect applied exactly once, never undone",
    violations,
    `${sagas} COMPLETED sagas`,
  );
}

/**
 * COMPENSATED sagas: every step that took effect was undone exactly once,
 * nothing at or after the failed step took effect, and (where the ledger has
 * times) no effect of the saga was applied after one of its undos.
 */
export function compensatedExactlyOnce(
  planned: readonly PlannedSaga[],
  finals: ReadonlyMap<string, FinalSaga>,
  ledger: LedgerLookup,
): InvariantResult {
  const violations: string[] = [];
  let sagas = 0;
  let undone = 0;
  for (const p of planned) {
    const final = finals.get(p.sagaId);
    if (final?.status !== "COMPENSATED") continue;
    sagas++;
    const failedAt = final.steps.findIndex((s) => s.status === "FAILED");
    let lastApply = 0;
    let firstUndo = Number.POSITIVE_INFINITY;
    p.steps.forEach((step: PlannedStep, i) => {
      const c = ledger(key(p, step));
      lastApply = Math.max(lastApply, ...c.applyTimes);
      firstUndo = Math.min(firstUndo, ...c.undoTimes);
      undone += c.undone;
      const afterFailure = failedAt >= 0 && i >= failedAt;
      if (afterFailure || step.kind !== "compensatable") {
        if (c.applied !== 0 || c.undone !== 0) {
          violations.push(
            `${key(p, step)} (${afterFailure ? "at/after the failed step" : step.kind}): ${counts(c)}`,
          );
        }
      } else if (c.applied > 1 || c.undone !== c.applied) {
        violations.push(`${key(p, step)}: ${counts(c)}, expected undone == applied <= 1`);
      }
    });
    if (lastApply > firstUndo) {
      violations.push(`${p.sagaId}: an effect was applied at ${lastApply}, after an undo at ${firstUndo}`);
    }
  }
  return result(
    "COMPENSATED sagas: each applied effect undone exactly once, nothing applied after",
    violations,
    `${sagas} COMPENSATED sagas, ${undone} effects undone`,
  );
}

/** Safety over every key, whatever the saga's status: never applied twice, never undone twice or without an apply. */
export function noEffectTwice(planned: readonly PlannedSaga[], ledger: LedgerLookup): InvariantResult {
  const violations: string[] = [];
  let applied = 0;
  for (const p of planned) {
    for (const step of p.steps) {
      const c = ledger(key(p, step));
      applied += c.applied;
      if (c.applied > 1 || c.undone > 1 || c.undone > c.applied)
        violations.push(`${key(p, step)}: ${counts(c)}`);
    }
  }
  return result("no effect applied or undone twice", violations, `${applied} effects applied in all`);
}

/** GetSaga's view of every step agrees with the participant's ledger. */
export function getSagaAgreesWithLedgers(
  planned: readonly PlannedSaga[],
  finals: ReadonlyMap<string, FinalSaga>,
  ledger: LedgerLookup,
): InvariantResult {
  const violations: string[] = [];
  let steps = 0;
  for (const p of planned) {
    const final = finals.get(p.sagaId);
    if (!final) continue;
    for (const step of final.steps) {
      steps++;
      const k = key(p, step);
      const c = ledger(k);
      switch (step.status) {
        case "SUCCEEDED":
          if (c.applied !== 1 || c.undone !== 0) violations.push(`${k} SUCCEEDED but ${counts(c)}`);
          else if (step.effectId !== undefined && c.applyIds[0] !== step.effectId)
            violations.push(`${k} output has effect ${step.effectId}, the ledger applied ${c.applyIds[0]}`);
          break;
        case "COMPENSATED":
          if (c.undone !== c.applied || c.applied > 1) violations.push(`${k} COMPENSATED but ${counts(c)}`);
          break;
        case "FAILED":
        case "SKIPPED":
        case "PENDING":
          // A step whose outcome is unknown (timed out) may have taken effect.
          if (c.applied !== 0 && !step.outcomeUnknown)
            violations.push(`${k} ${step.status} but ${counts(c)}`);
          break;
        default:
          // EXECUTING, RETRY_WAIT, COMPENSATING: a saga that is not terminal; everySagaTerminal reports it.
          break;
      }
    }
  }
  return result("GetSaga agrees with the ledgers", violations, `${steps} steps compared`);
}
