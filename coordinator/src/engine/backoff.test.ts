import { describe, expect, it } from "vitest";
import { backoffDelayMs } from "./backoff.js";
import type { RetryPolicy } from "./saga-definition.js";

const policy = (overrides: Partial<RetryPolicy> = {}): RetryPolicy => ({
  maxAttempts: 10,
  initialBackoffMs: 100,
  maxBackoffMs: 10_000,
  multiplier: 2,
  jitter: 0,
  ...overrides,
});

describe("backoffDelayMs", () => {
  it("waits initialBackoffMs before the second attempt and grows by the multiplier after that", () => {
    const waits = [2, 3, 4, 5, 6].map((n) => backoffDelayMs(policy(), n, 0));
    expect(waits).toEqual([100, 200, 400, 800, 1_600]);
  });

  it("uses the multiplier as given (3x, and 1x = constant)", () => {
    expect([2, 3, 4].map((n) => backoffDelayMs(policy({ multiplier: 3 }), n, 0))).toEqual([100, 300, 900]);
    expect([2, 3, 10].map((n) => backoffDelayMs(policy({ multiplier: 1 }), n, 0))).toEqual([100, 100, 100]);
  });

  it("never uses a negative exponent: attempt 1 (or less) waits initialBackoffMs", () => {
    expect(backoffDelayMs(policy(), 1, 0)).toBe(100);
    expect(backoffDelayMs(policy(), 0, 0)).toBe(100);
  });

  it("caps the wait at maxBackoffMs, even when the exponential overflows to Infinity", () => {
    const p = policy({ maxBackoffMs: 1_000 });
    expect(backoffDelayMs(p, 5, 0)).toBe(800);
    expect(backoffDelayMs(p, 6, 0)).toBe(1_000);
    expect(backoffDelayMs(p, 50, 0)).toBe(1_000);
    expect(backoffDelayMs(policy({ multiplier: 10, maxBackoffMs: 3_600_000 }), 5_000, 0)).toBe(3_600_000);
  });

  it("random 0 gives the full wait, random near 1 gives wait * (1 - jitter)", () => {
    const p = policy({ jitter: 0.2 });
    expect(backoffDelayMs(p, 3, 0)).toBe(200);
    expect(backoffDelayMs(p, 3, 0.999_999)).toBe(160);
    expect(backoffDelayMs(p, 3, 0.5)).toBe(180);
    // The jitter applies after the cap: a capped wait is jittered down from the cap.
    expect(backoffDelayMs(policy({ jitter: 0.5, maxBackoffMs: 1_000 }), 20, 0.999_999)).toBe(500);
  });

  it("stays within [wait * (1 - jitter), wait] for every random in [0, 1)", () => {
    const p = policy({ jitter: 0.3, initialBackoffMs: 1_000 });
    for (let i = 0; i < 1_000; i++) {
      const r = i / 1_000;
      const d = backoffDelayMs(p, 4, r); // full wait 4000
      expect(d).toBeGreaterThanOrEqual(2_800);
      expect(d).toBeLessThanOrEqual(4_000);
      expect(Number.isInteger(d)).toBe(true);
    }
  });

  it("jitter 1 can take the wait down to almost nothing, but never below 1 ms", () => {
    expect(backoffDelayMs(policy({ jitter: 1 }), 2, 0.999)).toBe(1);
    expect(backoffDelayMs(policy({ initialBackoffMs: 1, maxBackoffMs: 1, jitter: 1 }), 2, 0.99)).toBe(1);
    expect(backoffDelayMs(policy({ initialBackoffMs: 1, jitter: 0.9 }), 2, 0.9)).toBe(1);
  });

  it("rounds to whole milliseconds", () => {
    expect(backoffDelayMs(policy({ initialBackoffMs: 3, multiplier: 1.5 }), 3, 0)).toBe(5); // 4.5 -> 5
    expect(backoffDelayMs(policy({ initialBackoffMs: 10, jitter: 0.33 }), 2, 0.5)).toBe(8); // 8.35 -> 8
  });
});
