import { describe, expect, it } from "vitest";
import { type HeldKey, type ReconcileInput, reconcilePartitions } from "./reconcile-partitions.js";

const ME = "node-a";
const OTHER = "node-b";
const LEASE = "100";

/** Four partitions: 0 and 1 assigned to this node, 2 and 3 to the other one; nothing held yet. */
function input(over: Partial<ReconcileInput> = {}): ReconcileInput {
  return {
    nodeId: ME,
    partitionCount: 4,
    lease: { id: LEASE, alive: true },
    accepting: true,
    storeHealthy: true,
    members: new Set([ME, OTHER]),
    assignment: { owners: [ME, ME, OTHER, OTHER], trusted: true },
    keys: new Map(),
    fences: new Map(),
    busy: new Set(),
    coolingDown: new Set(),
    ...over,
  };
}

const mine = (fence: number, lease = LEASE): HeldKey => ({ nodeId: ME, fence, lease });
const theirs = (fence: number): HeldKey => ({ nodeId: OTHER, fence, lease: "200" });
/** Partitions 0 and 1 driven by this node with fences 10 and 11. */
const driving = {
  keys: new Map([
    [0, mine(10)],
    [1, mine(11)],
  ]),
  fences: new Map([
    [0, 10],
    [1, 11],
  ]),
};

describe("reconcilePartitions", () => {
  it("acquires exactly the free partitions assigned to this node", () => {
    expect(reconcilePartitions(input())).toEqual([
      { type: "acquire", partition: 0 },
      { type: "acquire", partition: 1 },
    ]);
  });

  it("does nothing when everything is in place", () => {
    expect(reconcilePartitions(input(driving))).toEqual([]);
  });

  it("waits for a partition assigned to it that another node still holds", () => {
    const keys = new Map([[0, theirs(5)]]);
    expect(reconcilePartitions(input({ keys }))).toEqual([{ type: "acquire", partition: 1 }]);
  });

  it("releases, with a drain, a driven partition the assignment moved away", () => {
    const assignment = { owners: [ME, OTHER, OTHER, OTHER], trusted: true };
    expect(reconcilePartitions(input({ ...driving, assignment }))).toEqual([
      { type: "release", partition: 1, fence: 11, drain: true },
    ]);
  });

  describe("a failed delete", () => {
    // The release dropped the fence, then deleting the key failed: the key is still ours.
    const afterFailedDelete = {
      keys: new Map([[1, mine(11)]]),
      assignment: { owners: [ME, OTHER, OTHER, OTHER], trusted: true },
    };

    it("is retried: the key is deleted, not forgotten", () => {
      expect(reconcilePartitions(input(afterFailedDelete))).toEqual([
        { type: "acquire", partition: 0 },
        { type: "delete", partition: 1, fence: 11 },
      ]);
    });

    it("waits out its cool-down, and an operation under way", () => {
      for (const hold of [{ coolingDown: new Set([1]) }, { busy: new Set([1]) }])
        expect(reconcilePartitions(input({ ...afterFailedDelete, ...hold }))).toEqual([
          { type: "acquire", partition: 0 },
        ]);
    });

    it("is never taken by the partition's new owner meanwhile (the key blocks it), so the delete must happen", () => {
      const theirView = reconcilePartitions(
        input({ ...afterFailedDelete, nodeId: OTHER, lease: { id: "200", alive: true } }),
      );
      expect(theirView).not.toContainEqual({ type: "acquire", partition: 1 });
    });
  });

  describe("a failed create", () => {
    it("is tried again after the cool-down when the key did not appear", () => {
      expect(reconcilePartitions(input({ coolingDown: new Set([0]) }))).toEqual([
        { type: "acquire", partition: 1 },
      ]);
      expect(reconcilePartitions(input())).toContainEqual({ type: "acquire", partition: 0 });
    });

    it("adopts the key when the create did land (its answer was lost)", () => {
      const keys = new Map([[0, mine(12)]]);
      expect(reconcilePartitions(input({ keys }))).toContainEqual({ type: "adopt", partition: 0, fence: 12 });
    });

    it("deletes the key that did land when the partition is no longer assigned here", () => {
      const keys = new Map([[0, mine(12)]]);
      const assignment = { owners: [OTHER, ME, OTHER, OTHER], trusted: true };
      expect(reconcilePartitions(input({ keys, assignment }))).toContainEqual({
        type: "delete",
        partition: 0,
        fence: 12,
      });
    });
  });

  describe("a failed stamp of the fence in the store", () => {
    it("adopts the key again (same fence) when it is still wanted", () => {
      const keys = new Map([
        [0, mine(10)],
        [1, mine(11)],
      ]);
      const fences = new Map([[1, 11]]);
      expect(reconcilePartitions(input({ keys, fences }))).toEqual([
        { type: "adopt", partition: 0, fence: 10 },
      ]);
    });
  });

  describe("a lost lease during a slow store write", () => {
    it("holds while the lease is in doubt (writes stop elsewhere), and drops all once it is lost", () => {
      expect(reconcilePartitions(input({ ...driving, lease: { id: LEASE, alive: false } }))).toEqual([]);
      const actions = reconcilePartitions(input({ ...driving, lease: { id: "", alive: false } }));
      expect(actions).toEqual([
        { type: "drop", partition: 0, reason: expect.any(String) },
        { type: "drop", partition: 1, reason: expect.any(String) },
      ]);
    });

    it("holds even what the assignment moved away while the lease is in doubt (no etcd call can be trusted)", () => {
      const assignment = { owners: [OTHER, OTHER, OTHER, OTHER], trusted: true };
      expect(
        reconcilePartitions(input({ ...driving, assignment, lease: { id: LEASE, alive: false } })),
      ).toEqual([]);
    });

    it("starts nothing while the lease is not known to be alive", () => {
      const keys = new Map([[0, mine(10)]]);
      expect(reconcilePartitions(input({ keys, lease: { id: LEASE, alive: false } }))).toEqual([]);
      expect(reconcilePartitions(input({ lease: { id: "", alive: false } }))).toEqual([]);
    });

    it("never records the acquisition in flight (busy) and, under a new lease, deletes the old lease's key", () => {
      // Partition 0's take was under way when the lease died; the node has a new lease now.
      const keys = new Map([[0, mine(10, "99")]]);
      const busy = new Set([0]);
      const lease = { id: LEASE, alive: true };
      expect(reconcilePartitions(input({ keys, busy, lease }))).toEqual([{ type: "acquire", partition: 1 }]);
      expect(reconcilePartitions(input({ keys, lease }))).toEqual([
        { type: "delete", partition: 0, fence: 10 },
        { type: "acquire", partition: 1 },
      ]);
    });

    it("drops a partition whose key now belongs to another node or to another incarnation", () => {
      const keys = new Map([
        [0, theirs(30)],
        [1, mine(31)],
      ]);
      expect(reconcilePartitions(input({ keys, fences: driving.fences }))).toEqual([
        { type: "drop", partition: 0, reason: expect.any(String) },
        { type: "drop", partition: 1, reason: expect.any(String) },
      ]);
    });

    it("paused past the TTL: drops what it lost, then takes back what is assigned and free", () => {
      // A zombie resumes: its keys vanished with its lease, partition 0 was taken by another node.
      const resumed = input({
        keys: new Map([[0, theirs(40)]]),
        fences: driving.fences,
        lease: { id: "101", alive: true },
      });
      expect(reconcilePartitions(resumed).map((a) => a.type)).toEqual(["drop", "drop"]);
      // Next round, after the drops: partition 1 is free and assigned here.
      expect(reconcilePartitions({ ...resumed, fences: new Map() })).toEqual([
        { type: "acquire", partition: 1 },
      ]);
    });
  });

  describe("an etcd outage during a drain", () => {
    const draining = { ...driving, accepting: false };

    it("releases every partition with a drain, whatever the assignment says", () => {
      expect(reconcilePartitions(input({ ...draining, assignment: { owners: [], trusted: false } }))).toEqual(
        [
          { type: "release", partition: 0, fence: 10, drain: true },
          { type: "release", partition: 1, fence: 11, drain: true },
        ],
      );
    });

    it("keeps retrying the deletes that failed, and never acquires", () => {
      const afterFailedDeletes = { ...draining, fences: new Map<number, number>() };
      expect(reconcilePartitions(input(afterFailedDeletes))).toEqual([
        { type: "delete", partition: 0, fence: 10 },
        { type: "delete", partition: 1, fence: 11 },
      ]);
    });

    it("drops everything once the lease is lost (the keys go with it)", () => {
      const actions = reconcilePartitions(input({ ...draining, lease: { id: "", alive: false } }));
      expect(actions.map((a) => a.type)).toEqual(["drop", "drop"]);
    });
  });

  describe("a leader change in the middle of an assignment", () => {
    it("moves nothing on an assignment of a former leader", () => {
      // The old leader gave partition 1 to the other node and partition 2 to this one, then lost its lease.
      const stale = { owners: [ME, OTHER, ME, OTHER], trusted: false };
      expect(reconcilePartitions(input({ ...driving, assignment: stale }))).toEqual([]);
      expect(reconcilePartitions(input({ assignment: stale }))).toEqual([]);
    });

    it("follows the new leader's assignment once it is published", () => {
      const fresh = { owners: [ME, OTHER, ME, OTHER], trusted: true };
      expect(reconcilePartitions(input({ ...driving, assignment: fresh }))).toEqual([
        { type: "release", partition: 1, fence: 11, drain: true },
        { type: "acquire", partition: 2 },
      ]);
    });
  });

  describe("a store that cannot be reached", () => {
    it("gives every partition back without a drain, deletes its other keys, and takes nothing", () => {
      const keys = new Map([...driving.keys, [2, mine(12)]]);
      const actions = reconcilePartitions(
        input({
          ...driving,
          keys,
          storeHealthy: false,
          assignment: { owners: [ME, ME, ME, ME], trusted: true },
        }),
      );
      expect(actions).toEqual([
        { type: "release", partition: 0, fence: 10, drain: false },
        { type: "release", partition: 1, fence: 11, drain: false },
        { type: "delete", partition: 2, fence: 12 },
      ]);
    });
  });

  it("takes nothing while it is not in the member list, but keeps what it drives", () => {
    const members = new Set([OTHER]);
    expect(reconcilePartitions(input({ members }))).toEqual([]);
    expect(reconcilePartitions(input({ ...driving, members }))).toEqual([]);
  });
});
