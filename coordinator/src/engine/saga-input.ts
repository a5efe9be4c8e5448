import type { StepOverride } from "./saga-state.js";
// What can happen to a saga (the inputs of the state machine) and what the
// machine asks the outside world to do (its commands).

/**
 * How a participant call failed (the outcome rules of participant.proto):
 * - business: a definite "no" on Execute (FAILED_PRECONDITION, ABORTED); not retried.
 * - transient: may succeed if retried (UNAVAILABLE, INTERNAL, ...); the step may have taken effect.
 * - timeout: no answer within the step's timeout; treated like transient.
 * - permanent: a status no retry can change (UNIMPLEMENTED, UNAUTHENTICATED, PERMISSION_DENIED,
 *   INVALID_ARGUMENT): the call was refused before it did anything, and only fixing the participant or
 *   its configuration helps, so it is not retried and the saga stops for an operator or compensates.
 */
/**
 * How a call failed. "unrecordable": Execute ran, but its output is larger than
 * the coordinator can store (the per-output or per-saga limit), so the step
 * took effect and no retry can help (a barrier answers with the same output).
 */
export type FailureKind = "business" | "transient" | "timeout" | "permanent" | "unrecordable";

export type SagaInput =
  | { type: "start" }
  | { type: "executeSucceeded"; step: string; attempt: number; output: Uint8Array }
  | { type: "executeFailed"; step: string; attempt: number; failure: FailureKind; error: string }
  | { type: "compensateSucceeded"; step: string; attempt: number }
  /** `failure` is absent from older callers: it then counts as transient ("business" does too). */
  | { type: "compensateFailed"; step: string; attempt: number; error: string; failure?: FailureKind }
  /** A durable timer is due: retries, compensation backoff, the saga deadline, overdue calls. */
  | { type: "timerFired" }
  | { type: "cancel"; reason: string }
  /** An operator resumes a FAILED saga. */
  | { type: "resume"; reason: string; overrides?: Record<string, StepOverride> }
  /** A node took the saga over: re-send every call that was in flight. */
  | { type: "recover" };

export type SagaCommand =
  | { type: "dispatchExecute"; step: string; attempt: number }
  | { type: "dispatchCompensate"; step: string; attempt: number };

export type HistoryEventType =
  | "SAGA_STARTED"
  | "STEP_DISPATCHED"
  | "STEP_SUCCEEDED"
  | "STEP_RETRY_SCHEDULED"
  | "STEP_FAILED"
  | "COMPENSATION_DISPATCHED"
  | "STEP_COMPENSATED"
  | "COMPENSATION_RETRY_SCHEDULED"
  | "STATUS_CHANGED"
  | "CANCEL_REQUESTED"
  | "RESUMED";

/** One history entry produced by a transition (sequence and time are added by the driver). */
export interface HistoryEntry {
  type: HistoryEventType;
  step: string;
  attempt: number;
  detail: string;
}
