import { backoffDelayMs } from "../engine/backoff.js";
import type { RetryPolicy } from "../engine/saga-definition.js";

// Cluster operations that failed (etcd away, store away) are retried with the
// engine's capped, jittered exponential backoff: 200 ms doubling to 2 s,
// randomised down by up to half so that nodes do not retry in lockstep. The
// cap stays short because a partition waits for these retries after a fault.
const CLUSTER_RETRY: RetryPolicy = {
  maxAttempts: Number.POSITIVE_INFINITY,
  initialBackoffMs: 200,
  maxBackoffMs: 2000,
  multiplier: 2,
  jitter: 0.5,
};

/** The wait before retrying after `failures` consecutive failures (1, 2, ...). */
export function clusterRetryDelayMs(failures: number, random: () => number = Math.random): number {
  return backoffDelayMs(CLUSTER_RETRY, Math.max(1, failures) + 1, random());
}
