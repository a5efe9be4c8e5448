// The normalized, validated shape of a saga as the engine sees it. Durations
// are milliseconds and times are epoch milliseconds, so the engine never
// touches protobuf types.

export type StepKind = "compensatable" | "pivot" | "retriable";

export interface RetryPolicy {
  /** Attempts in all, including the first. */
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  multiplier: number;
  /** Fraction of each wait that is randomised, 0..1. */
  jitter: number;
}

export interface StepDefinition {
  name: string;
  participant: string;
  payload: Uint8Array;
  contentType: string;
  /** As given; empty everywhere means "run in list order" (see saga-graph.ts). */
  dependsOn: string[];
  kind: StepKind;
  retry: RetryPolicy;
  compensateRetry: RetryPolicy;
  timeoutMs: number;
}

export interface SagaDefinition {
  sagaType: string;
  steps: StepDefinition[];
  /** Absolute saga deadline (epoch ms), or null. */
  deadlineAt: number | null;
  labels: Record<string, string>;
}

export const DEFAULT_EXECUTE_RETRY: RetryPolicy = {
  maxAttempts: 5,
  initialBackoffMs: 200,
  maxBackoffMs: 30_000,
  multiplier: 2,
  jitter: 0.2,
};

export const DEFAULT_COMPENSATE_RETRY: RetryPolicy = { ...DEFAULT_EXECUTE_RETRY, maxAttempts: 20 };

export const DEFAULT_STEP_TIMEOUT_MS = 30_000;
