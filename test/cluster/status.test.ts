import { Etcd3 } from "etcd3";
import { afterAll, describe, expect, inject, it } from "vitest";
import { type Cluster, type ClusterNodeHandle, startCluster } from "../support/cluster-harness.js";

describe("cluster status", () => {
  let cluster: Cluster;
  const etcd = new Etcd3({ hosts: inject("etcdEndpoints").split(",") });
  afterAll(async () => {
    await cluster?.stopAll();
    etcd.close();
  });

  it("matches what etcd holds, from every node", async () => {
    cluster = await startCluster(3, {
      etcd: inject("etcdEndpoints"),
      mongoUri: inject("mongoUri"),
      partitions: 16,
    });
    const ids = cluster.nodes.map((n) => n.nodeId);
    await cluster.settled(cluster.nodes[0] as ClusterNodeHandle, ids);
    const members = await etcd.getAll().prefix(`${cluster.prefix}/members/`).strings();
    const owners = await etcd.getAll().prefix(`${cluster.prefix}/owners/`).exec();
    const leader = await etcd.election(`${cluster.prefix}/election`).leader();
    const assignment = JSON.parse((await etcd.get(`${cluster.prefix}/assignment`).string()) ?? "{}");
    for (const node of cluster.nodes) {
      const s = await cluster.status(node);
      expect(s.nodeId).toBe(node.nodeId);
      expect(s.mode).toBe("cluster");
      expect(s.leaderNodeId).toBe(leader);
      expect(s.assignmentEpoch).toBe(assignment.epoch);
      expect(s.members.map((m) => m.nodeId).sort()).toEqual(
        Object.keys(members)
          .map((k) => k.split("/").pop())
          .sort(),
      );
      for (const m of s.members)
        expect(JSON.parse(members[`${cluster.prefix}/members/${m.nodeId}`] ?? "{}").address).toBe(m.address);
      expect(s.partitions).toHaveLength(16);
      for (const kv of owners.kvs) {
        const partition = Number(kv.key.toString().split("/").pop());
        const p = s.partitions[partition];
        expect(p?.ownerNodeId).toBe(kv.value.toString());
        expect(p?.fence).toBe(Number(kv.create_revision));
        expect(p?.assignedNodeId).toBe(assignment.owners[partition]);
      }
      expect(s.members.reduce((n, m) => n + m.ownedPartitions, 0)).toBe(16);
    }
  });
});
