import { SagaStatus } from "@saga-coordinator/proto";
import { afterAll, describe, expect, inject, it } from "vitest";
import { partitionOf } from "../../coordinator/src/cluster/partition-of.js";
import {
  type Cluster,
  type ClusterNodeHandle,
  startCluster,
  waitAllCompleted,
} from "../support/cluster-harness.js";
import { step } from "../support/coordinator-harness.js";
import { call } from "../support/grpc-call.js";
import { Counter } from "../support/latch.js";
import { type RecordingParticipant, startRecordingParticipant } from "../support/recording-participant.js";

// Three real coordinator processes on real etcd and MongoDB. 300 sagas go in
// round-robin; the leader is SIGKILLed mid-run, then a second node. Every
// saga must finish, every participant effect exactly once.

const SAGAS = 300;
const PARTITIONS = 64;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("cluster failover", () => {
  let cluster: Cluster;
  let participant: RecordingParticipant;
  afterAll(async () => {
    await cluster?.stopAll();
    await participant?.stop();
  });

  it("finishes all sagas with each effect once after the leader and then a second node are SIGKILLed", async () => {
    const slow = { execute: async () => void (await sleep(50 + Math.random() * 150)) };
    participant = await startRecordingParticipant({ reserve: slow, charge: slow, ship: slow });
    cluster = await startCluster(3, {
      etcd: inject("etcdEndpoints"),
      mongoUri: inject("mongoUri"),
      partitions: PARTITIONS,
    });
    const all = cluster.nodes.map((n) => n.nodeId);
    const status = await cluster.settled(cluster.nodes[0] as ClusterNodeHandle, all);
    const leaderId = status.leaderNodeId;
    expect(all).toContain(leaderId);

    const live = new Set<ClusterNodeHandle>(cluster.nodes);
    const ids: string[] = [];
    const accepted = new Counter();
    const startOne = async (i: number) => {
      const sagaId = `fo-${i}-${cluster.prefix.slice(6)}`;
      const req = {
        sagaId,
        sagaType: "failover",
        labels: {},
        steps: ["reserve", "charge", "ship"].map((s) => step(s, participant.address)),
      };
      // Round-robin over live nodes; a retry with the same saga_id is idempotent.
      for (let attempt = 0; ; attempt++) {
        const nodes = [...live];
        const node = nodes[(i + attempt) % nodes.length] as ClusterNodeHandle;
        try {
          await call(node.proc.client.startSaga, node.proc.client, req, 5000);
          ids.push(sagaId);
          accepted.bump();
          return;
        } catch (err) {
          if (attempt > 50) throw err;
          await sleep(100);
        }
      }
    };

    const kill = async (nodeId: string) => {
      const victim = cluster.nodes.find((n) => n.nodeId === nodeId) as ClusterNodeHandle;
      const before = await cluster.status([...live].find((n) => n !== victim) as ClusterNodeHandle);
      const orphanedPartitions = new Set(
        before.partitions.filter((p) => p.ownerNodeId === nodeId).map((p) => p.partition),
      );
      live.delete(victim);
      const diedAt = Date.now();
      await victim.proc.kill("SIGKILL");
      return { diedAt, orphanedPartitions };
    };

    /** Death -> first progress (a version change) on a saga of the dead node's partitions. */
    const failoverTime = async (death: { diedAt: number; orphanedPartitions: Set<number> }) => {
      const via = [...live][0] as ClusterNodeHandle;
      const orphans = ids.filter((id) => death.orphanedPartitions.has(partitionOf(id, PARTITIONS)));
      const versions = new Map<string, number>();
      for (const sagaId of orphans) {
        const { saga } = await call(via.proc.client.getSaga, via.proc.client, {
          sagaId,
          includeHistory: false,
        });
        if (saga && saga.status === SagaStatus.SAGA_STATUS_RUNNING) versions.set(sagaId, saga.version);
      }
      if (versions.size === 0) return null;
      for (;;) {
        for (const [sagaId, version] of versions) {
          const { saga } = await call(via.proc.client.getSaga, via.proc.client, {
            sagaId,
            includeHistory: false,
          });
          if (saga && saga.version > version) return Date.now() - death.diedAt;
        }
        await sleep(20);
      }
    };

    const starting = (async () => {
      for (let i = 0; i < SAGAS; i++) {
        await startOne(i);
        if (i % 10 === 9) await sleep(20);
      }
    })();
    // Each kill lands with sagas in flight and more still coming.
    await accepted.reached(60);
    const first = await kill(leaderId);
    const firstFailover = await failoverTime(first);
    await accepted.reached(Math.min(SAGAS - 40, accepted.value + 60));
    const secondId = all.find((id) => id !== leaderId) as string;
    const second = await kill(secondId);
    const secondFailover = await failoverTime(second);
    await starting;

    const survivor = [...live][0] as ClusterNodeHandle;
    await waitAllCompleted(survivor, ids);
    for (const sagaId of ids) {
      for (const s of ["reserve", "charge", "ship"])
        expect(participant.effects.get(`${sagaId}/${s}/execute`)).toBe(1);
    }
    console.log(
      `[cluster failover] ${SAGAS} sagas completed; failover (death -> first progress on an orphaned saga): ` +
        `leader ${firstFailover ?? "n/a"} ms, second node ${secondFailover ?? "n/a"} ms (lease TTL 2s)`,
    );
    const final = await cluster.settled(survivor, [survivor.nodeId]);
    expect(final.leaderNodeId).toBe(survivor.nodeId);
  });
});
