import type { Duration } from "@saga-coordinator/proto";

/** Milliseconds as a protobuf Duration. */
export function durationFromMs(ms: number): Duration {
  if (!Number.isFinite(ms) || ms < 0)
    throw new RangeError(`a duration must be a finite number of ms >= 0, got ${ms}`);
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}
