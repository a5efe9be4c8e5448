import { describe, expect, it } from "vitest";
import { assignPartitions } from "./partition-assignment.js";
import { partitionOf } from "./partition-of.js";

const P = 256;
const nodes = (n: number) => Array.from({ length: n }, (_, i) => `node-${i + 1}`);
const counts = (owners: string[]) => {
  const c = new Map<string, number>();
  for (const o of owners) c.set(o, (c.get(o) ?? 0) + 1);
  return c;
};
const moved = (a: string[], b: string[]) => a.filter((owner, p) => owner !== b[p]).length;

describe("assignPartitions (rendezvous hashing)", () => {
  it("is deterministic and independent of member order", () => {
    expect(assignPartitions(["b", "a", "c"], P)).toEqual(assignPartitions(["c", "b", "a"], P));
  });

  // The stated bound: with 256 partitions and 3..10 nodes, every node gets
  // between 0.5x and 1.6x of its fair share.
  it.each([3, 4, 5, 6, 7, 8, 9, 10])("balances %i nodes within 0.5x..1.6x of the fair share", (n) => {
    const c = counts(assignPartitions(nodes(n), P));
    const fair = P / n;
    expect(c.size).toBe(n);
    for (const share of c.values()) {
      expect(share).toBeGreaterThanOrEqual(Math.floor(fair * 0.5));
      expect(share).toBeLessThanOrEqual(Math.ceil(fair * 1.6));
    }
  });

  it("moves at most ~30% of partitions when a 4th node joins 3, all of them to the new node", () => {
    const before = assignPartitions(nodes(3), P);
    const after = assignPartitions(nodes(4), P);
    expect(moved(before, after)).toBeLessThanOrEqual(Math.ceil(P * 0.3));
    after.forEach((owner, p) => {
      if (owner !== before[p]) expect(owner).toBe("node-4");
    });
  });

  it("moves only the leaving node's partitions when one of 4 leaves", () => {
    const before = assignPartitions(nodes(4), P);
    const after = assignPartitions(["node-1", "node-2", "node-4"], P);
    before.forEach((owner, p) => {
      if (owner !== "node-3") expect(after[p]).toBe(owner);
      else expect(after[p]).not.toBe("node-3");
    });
  });

  it("leaves every partition unassigned when there are no members", () => {
    expect(new Set(assignPartitions([], 8))).toEqual(new Set([""]));
  });
});

describe("partitionOf", () => {
  it("is stable and within range", () => {
    expect(partitionOf("order-1", P)).toBe(partitionOf("order-1", P));
    for (let i = 0; i < 1000; i++) {
      const p = partitionOf(`saga-${i}`, P);
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThan(P);
    }
  });

  it("spreads ids over partitions", () => {
    const used = new Set(Array.from({ length: 5000 }, (_, i) => partitionOf(`saga-${i}`, P)));
    expect(used.size).toBe(P);
  });
});
