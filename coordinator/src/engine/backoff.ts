import type { RetryPolicy } from "./saga-definition.js";

/**
 * The wait before attempt `nextAttempt` (2, 3, ...): exponential from
 * initialBackoffMs, capped at maxBackoffMs, then jittered down by up to
 * `jitter` of itself. `random` is a number in [0, 1) supplied by the caller so
 * that this stays a pure function.
 */
export function backoffDelayMs(policy: RetryPolicy, nextAttempt: number, random: number): number {
  const exponent = Math.max(0, nextAttempt - 2);
  const raw = policy.initialBackoffMs * policy.multiplier ** exponent;
  const capped = Math.min(policy.maxBackoffMs, raw);
  const jittered = capped * (1 - policy.jitter * random);
  return Math.max(1, Math.round(jittered));
}
