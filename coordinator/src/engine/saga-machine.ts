import { attemptRecordedInFull, compactedAttempts } from "./attempt-history.js";
import { backoffDelayMs } from "./backoff.js";
import { effectiveDefinition } from "./effective-definition.js";
import type { SagaDefinition, StepDefinition } from "./saga-definition.js";
import { sagaGraph } from "./saga-graph.js";
import type { FailureKind, HistoryEntry, SagaCommand, SagaInput } from "./saga-input.js";
import {
  isTerminal,
  type SagaState,
  type SagaStatus,
  type StepOverride,
  type StepState,
} from "./saga-state.js";

/** Slowest pace of a RETRIABLE step's retries once its max_attempts are used up. */
export const RETRIABLE_PAST_BUDGET_MIN_MS = 1_000;

/**
 * The saga state machine: (definition, state, input) -> (state, commands,
 * history). Pure: time and randomness come in through the context, and the
 * caller persists the new state before it carries out any command.
 */

export interface TransitionContext {
  now: number;
  /** A number in [0, 1), for backoff jitter. */
  random: () => number;
  /** How long past its per-attempt timeout an unanswered call is presumed lost (its node died) and re-sent. */
  lostCallGraceMs: number;
  /**
   * What a saga may hold in payloads and outputs, so that its record always
   * fits the store (MongoDB: 16 MiB a document). Default: no limit.
   */
  limits?: { maxOutputBytes: number; maxSagaBytes: number };
}

/** The bytes a saga holds in payloads and step outputs. */
export function sagaBytes(def: SagaDefinition, state: SagaState): number {
  let bytes = 0;
  for (const step of def.steps)
    bytes += step.payload.byteLength + (state.steps[step.name]?.output?.byteLength ?? 0);
  return bytes;
}

export type TransitionResult =
  | { kind: "changed"; state: SagaState; commands: SagaCommand[]; history: HistoryEntry[] }
  | { kind: "unchanged" }
  | { kind: "rejected"; message: string };

export function initialState(def: SagaDefinition): SagaState {
  const steps: Record<string, StepState> = {};
  for (const step of def.steps) {
    steps[step.name] = {
      status: "PENDING",
      attempts: 0,
      compensateAttempts: 0,
      attemptsForgiven: 0,
      output: null,
      lastError: "",
      nextAttemptAt: null,
      dispatchedAt: null,
      outcomeUnknown: false,
    };
  }
  return { status: "RUNNING", steps, reason: "", nextWakeAt: null };
}

export function transition(
  def: SagaDefinition,
  state: SagaState,
  input: SagaInput,
  ctx: TransitionContext,
): TransitionResult {
  const run = new Transition(def, state, ctx);
  const outcome = run.apply(input);
  if (outcome !== "ok") return outcome;
  run.advance();
  // Nothing happened (e.g. a timer fired early): no write, no new version.
  return run.changedAnything(state) ? run.result() : UNCHANGED;
}

type ApplyOutcome = "ok" | { kind: "unchanged" } | { kind: "rejected"; message: string };
const UNCHANGED = { kind: "unchanged" } as const;

/** One transition's working copy; steps are copied on first write so the input state is never mutated. */
class Transition {
  private readonly draft: SagaState;
  private readonly copied = new Set<string>();
  private readonly commands: SagaCommand[] = [];
  private readonly history: HistoryEntry[] = [];
  private readonly startStatus: SagaStatus;

  /** The definition with the operators' step overrides applied (see effectiveDefinition). */
  private def: SagaDefinition;

  constructor(
    private readonly startedDef: SagaDefinition,
    state: SagaState,
    private readonly ctx: TransitionContext,
  ) {
    this.draft = { ...state, steps: { ...state.steps } };
    this.startStatus = state.status;
    this.def = effectiveDefinition(startedDef, state);
  }

  apply(input: SagaInput): ApplyOutcome {
    switch (input.type) {
      case "start":
        // Only once: a repeated start (e.g. a retried insert) must not add history.
        if (!this.neverStarted()) return UNCHANGED;
        this.record("SAGA_STARTED", "", 0, this.def.sagaType);
        return "ok";
      case "executeSucceeded":
        return this.onExecuteSucceeded(input.step, input.attempt, input.output);
      case "executeFailed":
        return this.onExecuteFailed(input.step, input.attempt, input.failure, input.error);
      case "compensateSucceeded":
        return this.onCompensateSucceeded(input.step, input.attempt);
      case "compensateFailed":
        return this.onCompensateFailed(input.step, input.attempt, input.error, input.failure ?? "transient");
      case "timerFired":
        // A saga stored but never started (its creator died or lost the partition
        // in between) is due at once; whoever owns it now starts it.
        if (this.neverStarted()) this.record("SAGA_STARTED", "", 0, this.def.sagaType);
        this.onTimer();
        return "ok";
      case "cancel":
        return this.onCancel(input.reason);
      case "resume":
        return this.onResume(input.reason, input.overrides ?? {});
      case "recover":
        this.redispatchInFlight(() => true, "re-sent after coordinator takeover");
        return "ok";
    }
  }

  private onExecuteSucceeded(name: string, attempt: number, output: Uint8Array): ApplyOutcome {
    const step = this.draft.steps[name];
    if (step?.status !== "EXECUTING" || step.attempts !== attempt) return UNCHANGED;
    const tooLarge = this.outputProblem(output);
    if (tooLarge) return this.onExecuteFailed(name, attempt, "unrecordable", tooLarge);
    Object.assign(this.mut(name), {
      status: "SUCCEEDED",
      output,
      dispatchedAt: null,
      nextAttemptAt: null,
      outcomeUnknown: false,
      lastError: "",
    });
    this.record("STEP_SUCCEEDED", name, attempt, "");
    return "ok";
  }

  private onExecuteFailed(name: string, attempt: number, failure: FailureKind, error: string): ApplyOutcome {
    const step = this.draft.steps[name];
    const stepDef = this.stepDef(name);
    if (!step || !stepDef || step.status !== "EXECUTING" || step.attempts !== attempt) return UNCHANGED;
    const s = this.mut(name);
    s.lastError = error;
    s.dispatchedAt = null;

    if (failure === "permanent") return this.onExecuteRefusedForGood(stepDef, s, attempt, error);
    if (failure === "unrecordable") return this.onExecuteUnrecordable(stepDef, s, attempt, error);

    if (failure === "business") {
      // A definite "no" is not retried. It proves this attempt had no effect, but
      // not that an earlier attempt without an answer had none (a participant
      // without a barrier may refuse *because* the first attempt went through),
      // so outcomeUnknown from earlier attempts stands and such a step is
      // compensated; a barrier answers that compensation as a null compensation.
      s.status = "FAILED";
      this.record("STEP_FAILED", name, attempt, error);
      if (stepDef.kind === "retriable") {
        this.fail(`retriable step ${name} was refused (${error}); it must eventually succeed`);
      } else if (this.draft.status === "RUNNING") {
        this.startCompensation(`step ${name} failed: ${error}`);
      }
      return "ok";
    }

    // Transient or timed out: it may have taken effect.
    s.outcomeUnknown = true;
    const used = s.attempts - s.attemptsForgiven;
    const mayRetry = stepDef.kind === "retriable" || used < stepDef.retry.maxAttempts;
    if (this.draft.status === "RUNNING" && mayRetry) {
      s.status = "RETRY_WAIT";
      // Backoff restarts after an operator resume: count only the attempts of this budget.
      const delay = backoffDelayMs(stepDef.retry, used + 1, this.ctx.random());
      // Past its budget a RETRIABLE step keeps going, but no faster than once a
      // second: its retries have no count limit, so their pace must have one.
      const pastBudget = used >= stepDef.retry.maxAttempts;
      s.nextAttemptAt = this.ctx.now + (pastBudget ? Math.max(delay, RETRIABLE_PAST_BUDGET_MIN_MS) : delay);
      this.recordFailedAttempt("STEP_RETRY_SCHEDULED", name, attempt, used, error);
      return "ok";
    }
    s.status = "FAILED";
    const why =
      this.draft.status === "RUNNING" ? `after ${used} attempts` : "while the saga was compensating";
    this.record("STEP_FAILED", name, attempt, `${error} (${why}; outcome unknown)`);
    if (this.draft.status !== "RUNNING") return "ok";
    if (stepDef.kind === "pivot") {
      this.fail(`pivot ${name} outcome unknown after ${used} attempts (${error}); it cannot be compensated`);
    } else {
      this.startCompensation(`step ${name} failed after ${used} attempts: ${error}`);
    }
    return "ok";
  }

  /** Why a step's output cannot be stored, or null when it fits. */
  private outputProblem(output: Uint8Array): string | null {
    const limits = this.ctx.limits;
    if (!limits) return null;
    if (output.byteLength > limits.maxOutputBytes)
      return `the output is ${output.byteLength} bytes; at most ${limits.maxOutputBytes} are allowed`;
    const total = sagaBytes(this.def, this.draft) + output.byteLength;
    if (total > limits.maxSagaBytes)
      return `with this output the saga would hold ${total} bytes of payloads and outputs; at most ${limits.maxSagaBytes} are allowed`;
    return null;
  }

  /**
   * The step took effect but its output cannot be stored. Retrying would bring
   * the same output back, so the step fails at once and counts as applied
   * (outcomeUnknown): before the pivot the saga compensates, this step
   * included (its Compensate gets an empty execute_output); a pivot or a step
   * past it stops the saga for an operator.
   */
  private onExecuteUnrecordable(
    stepDef: StepDefinition,
    s: StepState,
    attempt: number,
    error: string,
  ): ApplyOutcome {
    const name = stepDef.name;
    s.status = "FAILED";
    s.outcomeUnknown = true;
    this.record("STEP_FAILED", name, attempt, `${error} (the step took effect; its output cannot be stored)`);
    if (this.draft.status !== "RUNNING") return "ok";
    if (stepDef.kind === "compensatable") {
      this.startCompensation(`step ${name} took effect but its output cannot be stored: ${error}`);
    } else {
      this.fail(
        `step ${name} (${stepDef.kind}) took effect but its output cannot be stored (${error}); ` +
          "it cannot be compensated. Make the participant return a smaller output, then resume the saga with AdminService.ResumeSaga",
      );
    }
    return "ok";
  }

  /**
   * A status no retry can change (UNIMPLEMENTED, UNAUTHENTICATED, ...): the
   * participant refused the call before doing anything, so this attempt had
   * no effect. Before the pivot that is a definite failure and the saga
   * compensates; a step that must eventually succeed (RETRIABLE), or a pivot
   * that may already have taken effect on an earlier unanswered attempt,
   * stops the saga for an operator instead of retrying forever.
   */
  private onExecuteRefusedForGood(
    stepDef: StepDefinition,
    s: StepState,
    attempt: number,
    error: string,
  ): ApplyOutcome {
    const name = stepDef.name;
    s.status = "FAILED";
    const refusal = `participant ${stepDef.participant} answered ${error} to Execute of step ${name} (attempt ${attempt})`;
    this.record("STEP_FAILED", name, attempt, `${error} (a status that no retry can change)`);
    if (this.draft.status !== "RUNNING") return "ok";
    if (stepDef.kind === "retriable" || (stepDef.kind === "pivot" && s.outcomeUnknown)) {
      const mustNotCompensate =
        stepDef.kind === "retriable"
          ? "the step is past the pivot and must eventually succeed"
          : "the pivot may have taken effect on an earlier unanswered attempt";
      this.fail(
        `${refusal}; no retry can change that and ${mustNotCompensate}. ` +
          "Fix the participant or its configuration, then resume the saga with AdminService.ResumeSaga",
      );
    } else {
      this.startCompensation(`step ${name} failed: ${refusal}, a status that no retry can change`);
    }
    return "ok";
  }

  private onCompensateSucceeded(name: string, attempt: number): ApplyOutcome {
    const step = this.draft.steps[name];
    if (
      step?.status !== "COMPENSATING" ||
      step.dispatchedAt === null ||
      step.compensateAttempts !== attempt
    ) {
      return UNCHANGED;
    }
    Object.assign(this.mut(name), {
      status: "COMPENSATED",
      dispatchedAt: null,
      nextAttemptAt: null,
    });
    this.record("STEP_COMPENSATED", name, attempt, "");
    return "ok";
  }

  private onCompensateFailed(
    name: string,
    attempt: number,
    error: string,
    failure: FailureKind,
  ): ApplyOutcome {
    const step = this.draft.steps[name];
    const stepDef = this.stepDef(name);
    if (!step || !stepDef || step.status !== "COMPENSATING" || step.dispatchedAt === null) return UNCHANGED;
    if (step.compensateAttempts !== attempt) return UNCHANGED;
    const s = this.mut(name);
    s.lastError = error;
    s.dispatchedAt = null;
    const used = s.compensateAttempts - s.attemptsForgiven;
    if (failure === "permanent") {
      // A compensation refused with a status no retry can change cannot succeed until someone fixes
      // the participant or its configuration: waiting out the whole retry budget would only delay that.
      s.nextAttemptAt = null;
      this.record(
        "STEP_FAILED",
        name,
        attempt,
        `compensation refused: ${error} (a status that no retry can change)`,
      );
      this.fail(
        `participant ${stepDef.participant} answered ${error} to Compensate of step ${name} (attempt ${attempt}); ` +
          "no retry can change that. Fix the participant or its configuration, then resume the saga with AdminService.ResumeSaga",
      );
      return "ok";
    }
    if (used >= stepDef.compensateRetry.maxAttempts) {
      s.nextAttemptAt = null;
      this.record("STEP_FAILED", name, attempt, `compensation failed after ${used} attempts: ${error}`);
      this.fail(
        `compensation of ${name} failed after ${used} attempts (${error}); resume it with AdminService.ResumeSaga`,
      );
      return "ok";
    }
    s.nextAttemptAt = this.ctx.now + backoffDelayMs(stepDef.compensateRetry, used + 1, this.ctx.random());
    this.recordFailedAttempt("COMPENSATION_RETRY_SCHEDULED", name, attempt, used, error);
    return "ok";
  }

  private onTimer(): void {
    const { now, lostCallGraceMs } = this.ctx;
    this.redispatchInFlight(
      (stepDef, step) => (step.dispatchedAt ?? now) + stepDef.timeoutMs + lostCallGraceMs <= now,
      "re-sent: no answer within the step timeout",
    );
    const deadline = this.def.deadlineAt;
    if (this.draft.status === "RUNNING" && deadline !== null && now >= deadline && !this.pivotDispatched()) {
      this.startCompensation("deadline exceeded");
    }
  }

  private onCancel(reason: string): ApplyOutcome {
    const status = this.draft.status;
    if (status === "COMPENSATING") return UNCHANGED;
    if (status === "FAILED") {
      return {
        kind: "rejected",
        message: "saga is FAILED and waits for an operator; use AdminService.ResumeSaga",
      };
    }
    if (status !== "RUNNING")
      return { kind: "rejected", message: `saga has already ended (status ${status})` };
    const pivot = this.pivotName();
    if (pivot && this.pivotDispatched()) {
      return {
        kind: "rejected",
        message: `pivot step ${pivot} has been dispatched; past the pivot a saga can only move forward`,
      };
    }
    this.record("CANCEL_REQUESTED", "", 0, reason);
    this.startCompensation(reason ? `cancelled: ${reason}` : "cancelled");
    return "ok";
  }

  private onResume(reason: string, overrides: Record<string, StepOverride>): ApplyOutcome {
    if (this.draft.status !== "FAILED") {
      return {
        kind: "rejected",
        message: `only a FAILED saga can be resumed; this one is ${this.draft.status}`,
      };
    }
    const unknown = Object.keys(overrides).filter((name) => !this.draft.steps[name]);
    if (unknown.length > 0) {
      return {
        kind: "rejected",
        message: `overrides name steps this saga does not have: ${unknown.join(", ")}`,
      };
    }
    for (const [name, override] of Object.entries(overrides)) {
      const s = this.mut(name);
      s.override = { ...s.override, ...override };
      this.record("RESUMED", name, 0, describeOverride(override));
    }
    this.def = effectiveDefinition(this.startedDef, this.draft);
    const { now } = this.ctx;
    const stuckCompensations = this.def.steps.filter((d) => {
      const s = this.draft.steps[d.name];
      return s?.status === "COMPENSATING" && s.dispatchedAt === null && s.nextAttemptAt === null;
    });
    this.record("RESUMED", "", 0, reason);
    if (stuckCompensations.length > 0) {
      for (const d of stuckCompensations) {
        const s = this.mut(d.name);
        s.attemptsForgiven = s.compensateAttempts;
        s.nextAttemptAt = now;
      }
      this.draft.status = "COMPENSATING";
      return "ok";
    }
    // A refused retriable step or a pivot with unknown outcome: try it again with a fresh budget.
    for (const d of this.def.steps) {
      const s = this.draft.steps[d.name];
      if (s?.status === "FAILED" && (d.kind === "retriable" || (d.kind === "pivot" && s.outcomeUnknown))) {
        Object.assign(this.mut(d.name), {
          status: "RETRY_WAIT",
          attemptsForgiven: s.attempts,
          nextAttemptAt: now,
        });
      }
    }
    this.draft.status = "RUNNING";
    return "ok";
  }

  /** Moves the saga forward as far as it can go without an answer from outside. */
  advance(): void {
    if (this.draft.status === "RUNNING") this.advanceRunning();
    if (this.draft.status === "COMPENSATING") this.advanceCompensating();
    this.draft.nextWakeAt = this.computeNextWake();
    if (this.draft.status !== this.startStatus) this.record("STATUS_CHANGED", "", 0, this.draft.reason);
  }

  private advanceRunning(): void {
    const { now } = this.ctx;
    const deps = sagaGraph(this.def).dependencies;
    for (const d of this.def.steps) {
      const s = this.draft.steps[d.name] as StepState;
      const ready =
        (s.status === "PENDING" &&
          (deps.get(d.name) ?? []).every((n) => this.draft.steps[n]?.status === "SUCCEEDED")) ||
        (s.status === "RETRY_WAIT" && (s.nextAttemptAt ?? 0) <= now);
      if (ready) this.dispatchExecute(d.name);
    }
    if (this.def.steps.every((d) => this.draft.steps[d.name]?.status === "SUCCEEDED")) {
      this.draft.status = "COMPLETED";
      this.draft.reason = "";
    }
  }

  private advanceCompensating(): void {
    const { now } = this.ctx;
    const dependents = sagaGraph(this.def).dependents;
    for (const d of this.def.steps) {
      const s = this.draft.steps[d.name] as StepState;
      if (this.needsCompensation(d, s)) {
        // Reverse dependency order: wait until every step built on this one is settled.
        const blocked = (dependents.get(d.name) ?? []).some((n) => !this.isSettled(n));
        if (!blocked) this.dispatchCompensate(d.name);
      } else if (s.status === "COMPENSATING" && s.dispatchedAt === null && (s.nextAttemptAt ?? 0) <= now) {
        this.dispatchCompensate(d.name);
      }
    }
    const done = this.def.steps.every((d) => {
      const s = this.draft.steps[d.name] as StepState;
      return s.status !== "EXECUTING" && s.status !== "COMPENSATING" && !this.needsCompensation(d, s);
    });
    if (done) this.draft.status = "COMPENSATED";
  }

  /** A step that may have taken effect and has not been (or is not being) compensated. */
  private needsCompensation(d: StepDefinition, s: StepState): boolean {
    if (d.kind === "pivot") return false;
    return s.status === "SUCCEEDED" || (s.status === "FAILED" && s.outcomeUnknown);
  }

  /** Nothing more will happen to this step's effect. */
  private isSettled(name: string): boolean {
    const s = this.draft.steps[name];
    const d = this.stepDef(name);
    if (!s || !d) return true;
    if (s.status === "COMPENSATED" || s.status === "SKIPPED") return true;
    return s.status === "FAILED" && !this.needsCompensation(d, s);
  }

  private startCompensation(reason: string): void {
    this.draft.status = "COMPENSATING";
    this.draft.reason = reason;
    for (const d of this.def.steps) {
      const s = this.draft.steps[d.name] as StepState;
      if (s.status === "PENDING") this.mut(d.name).status = "SKIPPED";
      if (s.status === "RETRY_WAIT") {
        // Its earlier attempts had no definite answer, so it is compensated rather than retried.
        Object.assign(this.mut(d.name), { status: "FAILED", nextAttemptAt: null });
      }
    }
  }

  private fail(reason: string): void {
    this.draft.status = "FAILED";
    this.draft.reason = reason;
  }

  private dispatchExecute(name: string): void {
    const s = this.mut(name);
    s.status = "EXECUTING";
    s.attempts += 1;
    s.dispatchedAt = this.ctx.now;
    s.nextAttemptAt = null;
    this.commands.push({ type: "dispatchExecute", step: name, attempt: s.attempts });
    if (attemptRecordedInFull(s.attempts - s.attemptsForgiven))
      this.record("STEP_DISPATCHED", name, s.attempts, "");
  }

  private dispatchCompensate(name: string): void {
    const s = this.mut(name);
    s.status = "COMPENSATING";
    s.compensateAttempts += 1;
    if (s.compensateAttempts === 1) s.attemptsForgiven = 0;
    s.dispatchedAt = this.ctx.now;
    s.nextAttemptAt = null;
    this.commands.push({ type: "dispatchCompensate", step: name, attempt: s.compensateAttempts });
    if (attemptRecordedInFull(s.compensateAttempts - s.attemptsForgiven)) {
      this.record("COMPENSATION_DISPATCHED", name, s.compensateAttempts, this.draft.reason);
    }
  }

  /** Re-sends in-flight calls (same attempt number, same idempotency key). */
  private redispatchInFlight(when: (d: StepDefinition, s: StepState) => boolean, detail: string): void {
    if (isTerminal(this.draft.status)) return;
    for (const d of this.def.steps) {
      const s = this.draft.steps[d.name] as StepState;
      if (s.dispatchedAt === null || !when(d, s)) continue;
      const m = this.mut(d.name);
      m.dispatchedAt = this.ctx.now;
      if (s.status === "EXECUTING") {
        this.commands.push({ type: "dispatchExecute", step: d.name, attempt: s.attempts });
        if (attemptRecordedInFull(s.attempts - s.attemptsForgiven)) {
          this.record("STEP_DISPATCHED", d.name, s.attempts, detail);
        }
      } else if (s.status === "COMPENSATING") {
        this.commands.push({ type: "dispatchCompensate", step: d.name, attempt: s.compensateAttempts });
        if (attemptRecordedInFull(s.compensateAttempts - s.attemptsForgiven)) {
          this.record("COMPENSATION_DISPATCHED", d.name, s.compensateAttempts, detail);
        }
      }
    }
  }

  private computeNextWake(): number | null {
    if (isTerminal(this.draft.status)) return null;
    // A FAILED saga waits for an operator; only calls still in flight need watching.
    const waiting = this.draft.status !== "FAILED";
    let wake = Number.POSITIVE_INFINITY;
    for (const d of this.def.steps) {
      const s = this.draft.steps[d.name] as StepState;
      if (s.dispatchedAt !== null)
        wake = Math.min(wake, s.dispatchedAt + d.timeoutMs + this.ctx.lostCallGraceMs);
      else if (s.nextAttemptAt !== null && waiting) wake = Math.min(wake, s.nextAttemptAt);
    }
    if (this.draft.status === "RUNNING" && this.def.deadlineAt !== null && !this.pivotDispatched()) {
      wake = Math.min(wake, this.def.deadlineAt);
    }
    return Number.isFinite(wake) ? wake : null;
  }

  private neverStarted(): boolean {
    return (
      this.draft.status === "RUNNING" && Object.values(this.draft.steps).every((st) => st.attempts === 0)
    );
  }

  private pivotName(): string | undefined {
    return this.def.steps.find((s) => s.kind === "pivot")?.name;
  }

  private pivotDispatched(): boolean {
    const pivot = this.pivotName();
    return pivot !== undefined && (this.draft.steps[pivot]?.attempts ?? 0) > 0;
  }

  private stepDef(name: string): StepDefinition | undefined {
    return this.def.steps.find((s) => s.name === name);
  }

  private mut(name: string): StepState {
    const current = this.draft.steps[name] as StepState;
    if (this.copied.has(name)) return current;
    const copy = { ...current };
    this.draft.steps[name] = copy;
    this.copied.add(name);
    return copy;
  }

  private record(type: HistoryEntry["type"], step: string, attempt: number, detail: string): void {
    this.history.push({ type, step, attempt, detail });
  }

  /**
   * A failed attempt that is retried: one entry each while the budget's attempt `n` is within
   * FULL_HISTORY_ATTEMPTS, then only a marker per doubling (see attempt-history.ts).
   */
  private recordFailedAttempt(
    type: "STEP_RETRY_SCHEDULED" | "COMPENSATION_RETRY_SCHEDULED",
    step: string,
    attempt: number,
    n: number,
    error: string,
  ): void {
    if (attemptRecordedInFull(n)) {
      this.record(type, step, attempt, error);
      return;
    }
    const compacted = compactedAttempts(n);
    if (!compacted) return;
    const first = attempt - (compacted.last - compacted.first);
    this.record(
      type,
      step,
      attempt,
      `${error} (attempts ${first}..${attempt} failed; their history entries are compacted into this one)`,
    );
  }

  /** Whether the transition did anything worth a write: a changed step, a command, an entry, a new wake-up. */
  changedAnything(before: SagaState): boolean {
    return (
      this.copied.size > 0 ||
      this.commands.length > 0 ||
      this.history.length > 0 ||
      this.draft.status !== before.status ||
      this.draft.nextWakeAt !== before.nextWakeAt
    );
  }

  result(): TransitionResult {
    return { kind: "changed", state: this.draft, commands: this.commands, history: this.history };
  }
}

/** "timeout 60000ms, retry max_attempts 5, participant payments-v2": an override for the history. */
function describeOverride(o: StepOverride): string {
  const parts: string[] = [];
  if (o.timeoutMs !== undefined) parts.push(`timeout ${o.timeoutMs}ms`);
  if (o.retry)
    parts.push(
      `retry max_attempts ${o.retry.maxAttempts}, backoff ${o.retry.initialBackoffMs}..${o.retry.maxBackoffMs}ms`,
    );
  if (o.compensateRetry) {
    parts.push(
      `compensate_retry max_attempts ${o.compensateRetry.maxAttempts}, backoff ${o.compensateRetry.initialBackoffMs}..${o.compensateRetry.maxBackoffMs}ms`,
    );
  }
  if (o.participant !== undefined) parts.push(`participant ${o.participant}`);
  return `overridden on resume: ${parts.join("; ")}`;
}
