import { SagaStatus } from "@saga-coordinator/proto";
import { MongoClient } from "mongodb";
import { afterAll, describe, expect, inject, it } from "vitest";
import { partitionOf } from "../../coordinator/src/cluster/partition-of.js";
import { type Cluster, type ClusterNodeHandle, startCluster } from "../support/cluster-harness.js";
import { fastRetry, step } from "../support/coordinator-harness.js";
import { call } from "../support/grpc-call.js";
import { type RecordingParticipant, startRecordingParticipant } from "../support/recording-participant.js";

// An owner frozen with SIGSTOP loses its lease; its partitions move and the
// sagas finish elsewhere. Resumed with SIGCONT, it still holds answers for
// calls it made before freezing: none of its writes may land.

const PARTITIONS = 32;
const SAGAS = 40;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("fencing", () => {
  let cluster: Cluster;
  let participant: RecordingParticipant;
  const mongo = new MongoClient(inject("mongoUri"));
  afterAll(async () => {
    await cluster?.stopAll();
    await participant?.stop();
    await mongo.close();
  });

  it("refuses every write of a resumed ex-owner, which steps down", async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let blocked = 0;
    participant = await startRecordingParticipant({
      hold: {
        execute: async () => {
          blocked++;
          await gate;
          return undefined;
        },
      },
      after: {},
    });
    cluster = await startCluster(3, {
      etcd: inject("etcdEndpoints"),
      mongoUri: inject("mongoUri"),
      partitions: PARTITIONS,
    });
    const [a, b] = cluster.nodes as [ClusterNodeHandle, ClusterNodeHandle, ClusterNodeHandle];
    const before = await cluster.settled(
      b,
      cluster.nodes.map((n) => n.nodeId),
    );
    const aPartitions = new Set(
      before.partitions.filter((p) => p.ownerNodeId === a.nodeId).map((p) => p.partition),
    );
    const aFences = new Set(before.partitions.filter((p) => p.ownerNodeId === a.nodeId).map((p) => p.fence));

    // Sagas on A's partitions only, started through A so it dispatches their first call.
    const ids: string[] = [];
    for (let i = 0; ids.length < SAGAS; i++) {
      const sagaId = `fence-${i}-${cluster.prefix.slice(6)}`;
      if (!aPartitions.has(partitionOf(sagaId, PARTITIONS))) continue;
      ids.push(sagaId);
      await call(a.proc.client.startSaga, a.proc.client, {
        sagaId,
        sagaType: "fencing",
        labels: {},
        steps: [
          step("hold", participant.address, {
            retry: { ...fastRetry(1000), maxBackoff: { seconds: 0, nanos: 300_000_000 } },
          }),
          step("after", participant.address),
        ],
      });
    }
    while (blocked < SAGAS) await sleep(20);

    a.proc.child.kill("SIGSTOP");
    const moved = await (async () => {
      for (;;) {
        const s = await cluster.status(b);
        const owners = s.partitions.filter((p) => aPartitions.has(p.partition)).map((p) => p.ownerNodeId);
        if (owners.every((o) => o !== "" && o !== a.nodeId)) return s;
        await sleep(100);
      }
    })();
    expect(moved.members.map((m) => m.nodeId)).not.toContain(a.nodeId);

    // The successors re-send "hold" (same key: the barrier makes them wait), the first calls finish, sagas complete.
    release();
    for (const sagaId of ids) {
      for (;;) {
        const { saga } = await call(b.proc.client.getSaga, b.proc.client, { sagaId, includeHistory: false });
        if (saga?.status === SagaStatus.SAGA_STATUS_COMPLETED) break;
        await sleep(50);
      }
    }
    const sagas = mongo.db(cluster.database).collection("sagas");
    // What the ex-owner must not change: state and history (a later claim by a new owner may bump the version).
    const fingerprint = (d: Record<string, unknown>) => JSON.stringify([d.state, d.eventSeq, d.status]);
    const docs = await sagas.find({ _id: { $in: ids } } as never).toArray();
    const snapshot = new Map(docs.map((d) => [d._id, fingerprint(d)]));
    for (const d of await sagas.find({ _id: { $in: ids } } as never).toArray())
      expect(aFences.has(d.fence)).toBe(false);

    a.proc.child.kill("SIGCONT");
    const until = Date.now() + 15_000;
    while (!/newer owner|lease lost/.test(a.proc.output()) && Date.now() < until) await sleep(100);
    expect(a.proc.output()).toMatch(/newer owner|lease lost/);
    await sleep(2000);

    const after = await sagas.find({ _id: { $in: ids } } as never).toArray();
    for (const d of after) {
      expect(fingerprint(d), `saga ${d._id} was written after the ex-owner resumed`).toBe(
        snapshot.get(d._id),
      );
      expect(aFences.has(d.fence)).toBe(false);
      expect(d.status).toBe("COMPLETED");
    }
    for (const sagaId of ids) {
      expect(participant.effects.get(`${sagaId}/hold/execute`)).toBe(1);
      expect(participant.effects.get(`${sagaId}/after/execute`)).toBe(1);
    }
    // The ex-owner holds none of the partitions it lost with its lease.
    const final = await cluster.status(b);
    for (const p of final.partitions) {
      if (aPartitions.has(p.partition) && p.ownerNodeId === a.nodeId)
        expect(aFences.has(p.fence)).toBe(false);
    }
  });
});
