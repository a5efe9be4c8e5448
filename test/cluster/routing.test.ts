import { status } from "@grpc/grpc-js";
import { SagaEventType, SagaStatus, type WatchSagaResponse } from "@saga-coordinator/proto";
import { afterAll, describe, expect, inject, it } from "vitest";
import { partitionOf } from "../../coordinator/src/cluster/partition-of.js";
import { type Cluster, type ClusterNodeHandle, startCluster } from "../support/cluster-harness.js";
import { step } from "../support/coordinator-harness.js";
import { call, callError } from "../support/grpc-call.js";
import { type RecordingParticipant, startRecordingParticipant } from "../support/recording-participant.js";

// Any node accepts any call: writes are forwarded to the partition's owner,
// reads and WatchSaga are served from MongoDB by whichever node is asked.

const PARTITIONS = 16;

describe("routing between nodes", () => {
  let cluster: Cluster;
  let participant: RecordingParticipant;
  afterAll(async () => {
    await cluster?.stopAll();
    await participant?.stop();
  });

  it("forwards writes to the owner and streams a saga's events from a node that does not drive it", async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    participant = await startRecordingParticipant({
      hold: { execute: async () => void (await gate) },
      after: {},
    });
    cluster = await startCluster(3, {
      etcd: inject("etcdEndpoints"),
      mongoUri: inject("mongoUri"),
      partitions: PARTITIONS,
    });
    const s = await cluster.settled(
      cluster.nodes[0] as ClusterNodeHandle,
      cluster.nodes.map((n) => n.nodeId),
    );
    const ownerOf = (sagaId: string) => s.partitions[partitionOf(sagaId, PARTITIONS)]?.ownerNodeId;

    // A saga owned by node-2, started through node-1 and watched through node-3.
    let sagaId = "";
    for (let i = 0; ownerOf(sagaId) !== "node-2"; i++) sagaId = `route-${i}-${cluster.prefix.slice(6)}`;
    const [n1, , n3] = cluster.nodes as [ClusterNodeHandle, ClusterNodeHandle, ClusterNodeHandle];
    const started = await call(n1.proc.client.startSaga, n1.proc.client, {
      sagaId,
      sagaType: "routing",
      labels: {},
      steps: [step("hold", participant.address), step("after", participant.address)],
    });
    expect(started.created).toBe(true);

    const events: NonNullable<WatchSagaResponse["event"]>[] = [];
    const stream = n3.proc.client.watchSaga({ sagaId, afterSequence: 0 });
    const streamed = (async () => {
      for await (const m of stream as AsyncIterable<WatchSagaResponse>) if (m.event) events.push(m.event);
    })();
    await new Promise((r) => setTimeout(r, 300));
    release();
    await streamed;
    expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => i + 1));
    expect(events.at(-1)?.type).toBe(SagaEventType.SAGA_EVENT_TYPE_STATUS_CHANGED);
    expect(events.at(-1)?.status).toBe(SagaStatus.SAGA_STATUS_COMPLETED);

    // Reads from every node agree; a forwarded cancel gets the owner's answer.
    for (const node of cluster.nodes) {
      const got = await call(node.proc.client.getSaga, node.proc.client, { sagaId, includeHistory: true });
      expect(got.saga?.status).toBe(SagaStatus.SAGA_STATUS_COMPLETED);
      expect(got.history).toHaveLength(events.length);
    }
    const refused = await callError(n3.proc.client.cancelSaga, n3.proc.client, {
      sagaId,
      reason: "too late",
    });
    expect(refused.code).toBe(status.FAILED_PRECONDITION);
    expect(refused.details).toContain("already ended");
    // StartSaga through a third node with the same id and definition is the same saga.
    const again = await call(n3.proc.client.startSaga, n3.proc.client, {
      sagaId,
      sagaType: "routing",
      labels: {},
      steps: [step("hold", participant.address), step("after", participant.address)],
    });
    expect(again.created).toBe(false);
    expect(participant.effects.get(`${sagaId}/hold/execute`)).toBe(1);
  });
});
