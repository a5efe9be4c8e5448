import { describe, expect, it } from "vitest";
import { type BatchOutcome, GroupCommit } from "./group-commit.js";

/** A flush function the test completes by hand, recording each batch it was given. */
function manualFlush() {
  const batches: { ops: number[]; finish(outcomes: BatchOutcome<string>[] | Error): void }[] = [];
  let arrived: (() => void) | null = null;
  const flush = (ops: number[]) =>
    new Promise<BatchOutcome<string>[]>((resolve, reject) => {
      batches.push({ ops, finish: (o) => (o instanceof Error ? reject(o) : resolve(o)) });
      arrived?.();
    });
  const nextBatch = async (index: number) => {
    while (!batches[index]) await new Promise<void>((r) => (arrived = r));
    return batches[index];
  };
  return { batches, flush, nextBatch };
}

const okAll = (ops: number[]): BatchOutcome<string>[] => ops.map((n) => ({ ok: true, value: `done ${n}` }));

describe("GroupCommit", () => {
  it("sends a lone operation at once and batches what arrives while a flush is in flight", async () => {
    const { flush, nextBatch } = manualFlush();
    const commit = new GroupCommit(flush, { maxBatch: 100, delayMs: 0, maxInFlight: 4 });
    const first = commit.submit(1);
    const batch1 = await nextBatch(0);
    expect(batch1.ops).toEqual([1]);
    const later = [2, 3, 4].map((n) => commit.submit(n));
    expect(commit.waiting).toBe(3);
    batch1.finish(okAll(batch1.ops));
    expect(await first).toBe("done 1");
    const batch2 = await nextBatch(1);
    expect(batch2.ops).toEqual([2, 3, 4]);
    batch2.finish(okAll(batch2.ops));
    expect(await Promise.all(later)).toEqual(["done 2", "done 3", "done 4"]);
  });

  it("gives each caller its own outcome, and fails the whole batch when the flush throws", async () => {
    const { flush, nextBatch } = manualFlush();
    const commit = new GroupCommit(flush, { maxBatch: 2, delayMs: 0, maxInFlight: 1 });
    const a = commit.submit(1);
    const b = commit.submit(2);
    const batch = await nextBatch(0);
    batch.finish([
      { ok: true, value: "yes" },
      { ok: false, error: new Error("condition failed") },
    ]);
    expect(await a).toBe("yes");
    await expect(b).rejects.toThrow("condition failed");
    const c = commit.submit(3);
    (await nextBatch(1)).finish(new Error("connection reset"));
    await expect(c).rejects.toThrow("connection reset");
  });

  it("starts another flush for every full batch, up to maxInFlight", async () => {
    const { batches, flush, nextBatch } = manualFlush();
    const commit = new GroupCommit(flush, { maxBatch: 2, delayMs: 0, maxInFlight: 2 });
    const all = [1, 2, 3, 4, 5, 6].map((n) => commit.submit(n));
    await nextBatch(1);
    // Two full batches in flight; the rest waits for a free slot.
    expect(batches.map((b) => b.ops)).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(commit.waiting).toBe(2);
    batches[0]?.finish(okAll([1, 2]));
    const third = await nextBatch(2);
    expect(third.ops).toEqual([5, 6]);
    batches[1]?.finish(okAll([3, 4]));
    third.finish(okAll([5, 6]));
    expect(await Promise.all(all)).toHaveLength(6);
  });
});
