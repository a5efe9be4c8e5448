import { credentials } from "@grpc/grpc-js";
import {
  AdminServiceClient,
  type CoordinatorServiceClient,
  type GetClusterStatusResponse,
  SagaStatus,
  type WatchSagaResponse,
} from "@saga-coordinator/proto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { partitionOf } from "../../coordinator/src/cluster/partition-of.js";
import type { SagaStore } from "../../coordinator/src/store/saga-store.js";
import { type Cluster, type ClusterNodeHandle, startCluster } from "../support/cluster-harness.js";
import { type Harness, startHarness, step } from "../support/coordinator-harness.js";
import { freePort } from "../support/free-port.js";
import { call } from "../support/grpc-call.js";
import { type RecordingParticipant, startRecordingParticipant } from "../support/recording-participant.js";

// WatchSaga on a node that does not drive the saga: the node forwards the
// stream to the owner, which serves it from its event bus. Two cluster nodes
// run in this process so that the relaying node's store reads can be counted.

// Enough that consistent hashing gives every node of three some partitions.
const PARTITIONS = 16;

type Event = NonNullable<WatchSagaResponse["event"]>;

function gate() {
  let open: () => void = () => {};
  const opened = new Promise<void>((r) => {
    open = r;
  });
  return { opened, open };
}

/** Reads of saga state and history made through `store` (the WatchSaga path), counted. */
function countReads(store: SagaStore): { reads: () => number } {
  let reads = 0;
  const get = store.get.bind(store);
  const events = store.events.bind(store);
  store.get = (...args) => {
    reads++;
    return get(...args);
  };
  store.events = (...args) => {
    reads++;
    return events(...args);
  };
  return { reads: () => reads };
}

/** A WatchSaga stream from its first event (`first` resolves then) to its end (`done` resolves with all events). */
function watch(client: CoordinatorServiceClient, sagaId: string) {
  const events: Event[] = [];
  const firstEvent = gate();
  const stream = client.watchSaga({ sagaId, afterSequence: 0 });
  const done = (async () => {
    for await (const m of stream as AsyncIterable<WatchSagaResponse>) {
      if (!m.event) continue;
      events.push(m.event);
      firstEvent.open();
    }
    return events;
  })();
  // A stream that fails before its first event must not leave `first` pending.
  done.catch(() => firstEvent.open());
  return { first: firstEvent.opened, done };
}

function expectWholeHistory(events: Event[]) {
  expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => i + 1));
  expect(events.at(-1)?.status).toBe(SagaStatus.SAGA_STATUS_COMPLETED);
}

describe("WatchSaga through a node that does not drive the saga", () => {
  const hold = gate();
  const holdAfterMove = gate();
  let participant: RecordingParticipant;
  let owner: Harness;
  let relay: Harness;
  let relayReads: { reads: () => number };
  let ownerClosed = false;
  const prefix = `/watch-${Date.now()}`;
  const database = `watch_${Date.now()}`;

  const startNode = async (nodeId: string) => {
    const port = await freePort();
    return startHarness({
      mongoUri: inject("mongoUri"),
      extra: {
        listen: `127.0.0.1:${port}`,
        "node-id": nodeId,
        "etcd-endpoints": inject("etcdEndpoints"),
        "etcd-prefix": prefix,
        "mongodb-database": database,
        partitions: PARTITIONS,
        "lease-ttl-seconds": 2,
      },
    });
  };

  /** Polls the relay's cluster status until `ok` holds. */
  const statusWhen = async (ok: (s: GetClusterStatusResponse) => boolean) => {
    const admin = new AdminServiceClient(relay.node.address, credentials.createInsecure());
    try {
      for (;;) {
        const s = await call(admin.getClusterStatus, admin, {}).catch(() => null);
        if (s && ok(s)) return s;
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      admin.close();
    }
  };
  /** Both nodes are members and every partition is held by its assigned node. */
  const settled = () =>
    statusWhen(
      (s) =>
        s.members.length === 2 &&
        new Set(s.partitions.map((p) => p.ownerNodeId)).size === 2 &&
        s.partitions.every((p) => p.ownerNodeId === p.assignedNodeId),
    );

  beforeAll(async () => {
    participant = await startRecordingParticipant({
      hold: {
        execute: async (ctx) => {
          await (ctx.sagaId.startsWith("move-") ? holdAfterMove.opened : hold.opened);
          return undefined;
        },
      },
      after: {},
    });
    owner = await startNode("owner");
    relay = await startNode("relay");
    relayReads = countReads(relay.node.store);
  });
  afterAll(async () => {
    hold.open();
    holdAfterMove.open();
    await relay?.close();
    if (!ownerClosed) await owner?.close();
    await participant?.stop();
  });

  /** Saga ids (with `tag`) whose partition the owner node drives. */
  const idsOwnedByOwner = async (tag: string, count: number) => {
    const s = await settled();
    const ids: string[] = [];
    for (let i = 0; ids.length < count; i++) {
      const id = `${tag}-${i}-${prefix.slice(7)}`;
      if (s.partitions[partitionOf(id, PARTITIONS)]?.ownerNodeId === "owner") ids.push(id);
    }
    return ids;
  };

  const startVia = (h: Harness, sagaId: string) =>
    h.start({ sagaId, steps: [step("hold", participant.address), step("after", participant.address)] });

  it("relays live events from the owner without reading the store per stream", async () => {
    const ids = await idsOwnedByOwner("live", 10);
    for (const id of ids) await startVia(relay, id);
    const readsBefore = relayReads.reads();
    const watches = ids.map((id) => watch(relay.client, id));
    // Every stream is open and has replayed the history so far.
    await Promise.all(watches.map((w) => w.first));
    hold.open();
    for (const w of watches) expectWholeHistory(await w.done);
    // The relay read nothing, neither to open the streams nor while the sagas ran:
    // the owner replayed the history and pushed every live event.
    expect(relayReads.reads() - readsBefore).toBe(0);
  });

  it("replays a saga that ended before the watch started, from any node", async () => {
    const [id] = await idsOwnedByOwner("ended", 1);
    await startVia(owner, id as string);
    hold.open();
    await owner.waitFor(id as string);
    const fromRelay = await watch(relay.client, id as string).done;
    const fromOwner = await watch(owner.client, id as string).done;
    expectWholeHistory(fromRelay);
    expect(fromRelay).toEqual(fromOwner);
  });

  it("follows the saga to its new owner when the owner hands its partitions over", async () => {
    const ids = await idsOwnedByOwner("move", 4);
    for (const id of ids) await startVia(relay, id);
    const watches = ids.map((id) => watch(relay.client, id));
    await Promise.all(watches.map((w) => w.first));
    // The owner leaves (the SIGTERM path): the relay takes every partition, re-sends the
    // held calls and drives the sagas to their end. The owner's stop waits for its held calls.
    const ownerStopped = owner.close();
    ownerClosed = true;
    await statusWhen((s) => s.partitions.every((p) => p.ownerNodeId === "relay"));
    holdAfterMove.open();
    for (const w of watches) expectWholeHistory(await w.done);
    for (const id of ids) expect((await relay.get(id)).status).toBe(SagaStatus.SAGA_STATUS_COMPLETED);
    await ownerStopped;
  });
});

describe("WatchSaga through a relay when the owner process is SIGKILLed", () => {
  const hold = gate();
  let cluster: Cluster;
  let participant: RecordingParticipant;
  afterAll(async () => {
    hold.open();
    await cluster?.stopAll();
    await participant?.stop();
  });

  it("resumes from the next owner after the last event relayed: every event once, in order", async () => {
    participant = await startRecordingParticipant({
      hold: { execute: async () => void (await hold.opened) },
      after: {},
    });
    cluster = await startCluster(3, {
      etcd: inject("etcdEndpoints"),
      mongoUri: inject("mongoUri"),
      partitions: PARTITIONS,
    });
    const [n1, n2, n3] = cluster.nodes as [ClusterNodeHandle, ClusterNodeHandle, ClusterNodeHandle];
    const s = await cluster.settled(n1, [n1.nodeId, n2.nodeId, n3.nodeId]);
    let sagaId = "";
    for (let i = 0; s.partitions[partitionOf(sagaId, PARTITIONS)]?.ownerNodeId !== n2.nodeId; i++)
      sagaId = `killed-owner-${i}-${cluster.prefix.slice(6)}`;
    await call(n1.proc.client.startSaga, n1.proc.client, {
      sagaId,
      sagaType: "watch-kill",
      labels: {},
      steps: [step("hold", participant.address), step("after", participant.address)],
    });

    const relayed = watch(n3.proc.client, sagaId);
    await relayed.first;
    await n2.proc.kill("SIGKILL");
    // The held step's answer dies with its node: the next owner of the partition re-sends
    // the call (the barrier answers it from the first run) and drives the saga to its end.
    hold.open();
    expectWholeHistory(await relayed.done);
    expect(participant.effects.get(`${sagaId}/hold/execute`)).toBe(1);
    expect(participant.effects.get(`${sagaId}/after/execute`)).toBe(1);
  });
});
