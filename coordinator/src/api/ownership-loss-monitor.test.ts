import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { PartitionOwnership } from "../driver/partition-ownership.js";
import { OwnershipLossMonitor } from "./ownership-loss-monitor.js";

/** Ownership the test changes by hand. */
function ownership() {
  const fences = new Map<number, number>();
  const draining = new Set<number>();
  const o: PartitionOwnership = {
    fenceFor: (p) => fences.get(p) ?? null,
    owned: () => new Set(fences.keys()),
    lost: (p) => void fences.delete(p),
    isDraining: (p) => draining.has(p),
  };
  return { o, fences, draining };
}

describe("OwnershipLossMonitor", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("gives no hold on a partition this node does not drive, or is handing over", () => {
    const { o, fences, draining } = ownership();
    const monitor = new OwnershipLossMonitor(o, 100);
    expect(monitor.hold(1)).toBeNull();
    fences.set(1, 7);
    draining.add(1);
    expect(monitor.hold(1)).toBeNull();
  });

  it("aborts every hold of a partition once it is lost, re-claimed with a new fence, or draining", () => {
    const { o, fences, draining } = ownership();
    fences.set(1, 7);
    fences.set(2, 3);
    fences.set(3, 4);
    const monitor = new OwnershipLossMonitor(o, 100);
    const a = monitor.hold(1);
    const b = monitor.hold(1);
    const c = monitor.hold(2);
    const d = monitor.hold(3);
    vi.advanceTimersByTime(300);
    expect([a, b, c, d].map((h) => h?.signal.aborted)).toEqual([false, false, false, false]);

    fences.delete(1);
    fences.set(2, 9);
    vi.advanceTimersByTime(100);
    expect([a, b, c, d].map((h) => h?.signal.aborted)).toEqual([true, true, true, false]);
    draining.add(3);
    vi.advanceTimersByTime(100);
    expect(d?.signal.aborted).toBe(true);
    expect(monitor.heldPartitions()).toEqual([]);
  });

  it("a new hold after a re-claim is not aborted by the old fence, and the timer stops when nothing is held", () => {
    const { o, fences } = ownership();
    fences.set(5, 1);
    const monitor = new OwnershipLossMonitor(o, 100);
    const old = monitor.hold(5);
    fences.set(5, 2);
    const fresh = monitor.hold(5);
    expect(old?.signal.aborted).toBe(true);
    vi.advanceTimersByTime(200);
    expect(fresh?.signal.aborted).toBe(false);
    old?.release();
    fresh?.release();
    fresh?.release();
    expect(monitor.heldPartitions()).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
