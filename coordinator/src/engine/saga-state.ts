import type { RetryPolicy } from "./saga-definition.js";
// The mutable part of a saga, as persisted. Plain data: every transition
// returns a new object and never mutates its input.

export type SagaStatus = "RUNNING" | "COMPLETED" | "COMPENSATING" | "COMPENSATED" | "FAILED";

export type StepStatus =
  | "PENDING"
  | "EXECUTING"
  | "RETRY_WAIT"
  | "SUCCEEDED"
  | "FAILED"
  | "COMPENSATING"
  | "COMPENSATED"
  | "SKIPPED";

export interface StepState {
  status: StepStatus;
  /** Execute attempts dispatched so far. */
  attempts: number;
  /** Compensate attempts dispatched so far. */
  compensateAttempts: number;
  /** Attempts of the current phase that do not count against its retry limit (set by an operator resume). */
  attemptsForgiven: number;
  output: Uint8Array | null;
  lastError: string;
  /** When the next attempt is due (RETRY_WAIT, or a compensation backing off). */
  nextAttemptAt: number | null;
  /** When the in-flight attempt was dispatched; null when nothing is in flight. */
  dispatchedAt: number | null;
  /** An attempt ended without a definite answer: the step may have taken effect. */
  outcomeUnknown: boolean;
  /** What an operator changed of the step's definition when resuming the saga (latest wins per field). */
  override?: StepOverride;
}

/** Fields of a step's definition an operator may change on ResumeSaga. */
export interface StepOverride {
  timeoutMs?: number;
  retry?: RetryPolicy;
  compensateRetry?: RetryPolicy;
  participant?: string;
}

export interface SagaState {
  status: SagaStatus;
  steps: Record<string, StepState>;
  /** Why the saga is compensating or failed. */
  reason: string;
  /** Epoch ms of the earliest moment the saga needs attention without any participant answer, or null. */
  nextWakeAt: number | null;
}

export const TERMINAL_STATUSES: ReadonlySet<SagaStatus> = new Set(["COMPLETED", "COMPENSATED"]);

export function isTerminal(status: SagaStatus): boolean {
  return TERMINAL_STATUSES.has(status);
}
