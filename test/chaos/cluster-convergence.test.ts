import { describe, expect, it } from "vitest";
import { clusterConverged, compact, type EtcdSnapshot } from "./cluster-convergence.js";

const live = ["node-1", "node-2"];

function snapshot(): EtcdSnapshot {
  return {
    members: new Map([
      ["node-1", "L1"],
      ["node-2", "L2"],
    ]),
    owners: new Map([
      [0, { nodeId: "node-1", lease: "L1" }],
      [1, { nodeId: "node-2", lease: "L2" }],
      [2, { nodeId: "node-1", lease: "L1" }],
    ]),
    assignment: ["node-1", "node-2", "node-1"],
  };
}
const view = (via: string) => ({
  via,
  members: live,
  partitions: snapshot().assignment.map((id, partition) => ({
    partition,
    assignedNodeId: id,
    ownerNodeId: id,
  })),
});

describe("clusterConverged", () => {
  it("passes when etcd and every node agree", () => {
    const r = clusterConverged(live, 3, [view("node-1"), view("node-2")], snapshot());
    expect(r.violations).toEqual([]);
    expect(r.detail).toBe("3 partitions (node-1 2, node-2 1); 2 nodes agree");
  });

  it("finds an orphaned partition, a key under a dead lease and a holder that is not the assignee", () => {
    const s = snapshot();
    s.owners.delete(2);
    s.owners.set(1, { nodeId: "node-2", lease: "OLD" });
    s.assignment[0] = "node-2";
    const r = clusterConverged(live, 3, [], s);
    expect(r.ok).toBe(false);
    expect(r.violations).toEqual([
      "etcd: partitions 0 held by node-1, assigned to node-2",
      "etcd: partitions 1 held by node-2 under lease OLD, its member lease is L2",
      "etcd: partitions 2 no ownership key (orphaned)",
    ]);
  });

  it("finds a dead member still assigned and a node whose view differs", () => {
    const s = snapshot();
    s.members.set("node-3", "L3");
    const stale = { ...view("node-2"), members: ["node-1", "node-2", "node-3"] };
    const r = clusterConverged(live, 3, [view("node-1"), stale], s);
    expect(r.violations).toEqual([
      "etcd members are [node-1, node-2, node-3], live nodes are [node-1, node-2]",
      "node-2 sees members [node-1,node-2,node-3]",
    ]);
  });

  it("compacts partition lists", () => {
    expect(compact([5, 1, 2, 3, 9, 10])).toBe("1-3, 5, 9-10");
  });
});
