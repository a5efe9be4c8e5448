// How many history entries the attempts of one step phase (Execute or
// Compensate) produce. A RETRIABLE step is retried forever and a compensation
// may have a large budget, so one entry per attempt would grow a saga's history
// (and WatchSaga replays) without limit. The step state keeps the full count
// and the last error, which GetSaga returns; the history keeps the first
// attempts in full and then one marker per doubling: O(log n) entries.

/** Attempts 1..FULL_HISTORY_ATTEMPTS of a phase get one entry per dispatch and per failure. */
export const FULL_HISTORY_ATTEMPTS = 10;

/**
 * `n` counts the attempts of the current phase budget (an operator resume
 * starts a new one, so the first attempts after it are recorded in full again).
 */
export function attemptRecordedInFull(n: number): boolean {
  return n <= FULL_HISTORY_ATTEMPTS;
}

/**
 * For the failure of attempt `n` of the budget beyond the full-history cap:
 * the budget attempts the one marker entry stands for, or null when this
 * failure gets no entry. Markers fall on powers of two: 16 covers 11..16,
 * 32 covers 17..32, and so on.
 */
export function compactedAttempts(n: number): { first: number; last: number } | null {
  if (attemptRecordedInFull(n) || !isPowerOfTwo(n)) return null;
  return { first: Math.max(FULL_HISTORY_ATTEMPTS, n / 2) + 1, last: n };
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && Number.isInteger(Math.log2(n));
}
