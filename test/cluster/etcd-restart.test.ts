import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { findOnPath } from "../setup/local-services.js";
import { etcdIsHealthy, waitUntil } from "../setup/service-probes.js";
import {
  type Cluster,
  type ClusterNodeHandle,
  startCluster,
  waitAllCompleted,
} from "../support/cluster-harness.js";
import { step } from "../support/coordinator-harness.js";
import { freePort } from "../support/free-port.js";
import { call } from "../support/grpc-call.js";
import { Counter } from "../support/latch.js";
import { type RecordingParticipant, startRecordingParticipant } from "../support/recording-participant.js";
import { spawnTracked, type TrackedProcess } from "../support/tracked-process.js";

// etcd goes away for a few seconds in the middle of a run and comes back with
// its data: the cluster must carry every saga to its end, each effect once.

const SAGAS = 120;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("etcd restart", () => {
  let cluster: Cluster;
  let participant: RecordingParticipant;
  let etcd: TrackedProcess | undefined;
  afterAll(async () => {
    await cluster?.stopAll();
    await participant?.stop();
    await etcd?.kill("SIGKILL");
  });

  it("finishes every saga with each effect once when etcd restarts mid-run", async () => {
    const binary = findOnPath("etcd");
    expect(binary, "etcd must be on PATH (scripts/install-test-deps.sh)").toBeTruthy();
    const dataDir = mkdtempSync(path.join(tmpdir(), "saga-etcd-restart-"));
    const [clientPort, peerPort] = [await freePort(), await freePort()];
    const client = `http://127.0.0.1:${clientPort}`;
    const peer = `http://127.0.0.1:${peerPort}`;
    // biome-ignore format: one flag and its value per line
    const args = [
      "--name", "restart", "--data-dir", dataDir,
      "--listen-client-urls", client, "--advertise-client-urls", client,
      "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
      "--initial-cluster", `restart=${peer}`, "--log-level", "error",
    ];
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("ETCD_")));
    const startEtcd = async () => {
      etcd = spawnTracked(binary as string, args, { env });
      await waitUntil("etcd", () => etcdIsHealthy(client), { timeoutMs: 30_000 });
    };
    await startEtcd();

    const slow = { execute: async () => void (await sleep(100 + Math.random() * 200)) };
    participant = await startRecordingParticipant({ one: slow, two: slow, three: slow });
    cluster = await startCluster(3, { etcd: client, mongoUri: inject("mongoUri"), partitions: 32 });
    await cluster.settled(
      cluster.nodes[0] as ClusterNodeHandle,
      cluster.nodes.map((n) => n.nodeId),
    );

    const ids: string[] = [];
    const accepted = new Counter();
    const starting = (async () => {
      for (let i = 0; i < SAGAS; i++) {
        const sagaId = `etcd-${i}-${cluster.prefix.slice(6)}`;
        const req = {
          sagaId,
          sagaType: "etcd-restart",
          labels: {},
          steps: ["one", "two", "three"].map((s) => step(s, participant.address)),
        };
        for (let attempt = 0; ; attempt++) {
          const node = cluster.nodes[(i + attempt) % 3] as ClusterNodeHandle;
          try {
            await call(node.proc.client.startSaga, node.proc.client, req, 5000);
            ids.push(sagaId);
            accepted.bump();
            break;
          } catch (err) {
            // While etcd is away a node may not know a partition's owner: retry (same saga_id, idempotent).
            if (attempt > 100) throw err;
            await sleep(100);
          }
        }
        await sleep(15);
      }
    })();
    // etcd goes away with sagas in flight and more still coming, for an outage of 3 s.
    await accepted.reached(15);
    await etcd?.kill("SIGTERM");
    await sleep(3000);
    await startEtcd();
    await starting.catch((err: unknown) => {
      // Keep what the nodes said: a failure here is about their behaviour while etcd was away.
      const logs = cluster.nodes.map((n) => `--- ${n.nodeId}\n${n.proc.output().slice(-4000)}`).join("\n");
      throw new Error(`starting sagas failed: ${String(err)}\n${logs}`);
    });

    const via = cluster.nodes[0] as ClusterNodeHandle;
    await waitAllCompleted(via, ids);
    expect(ids).toHaveLength(SAGAS);
    for (const sagaId of ids) {
      for (const s of ["one", "two", "three"])
        expect(participant.effects.get(`${sagaId}/${s}/execute`)).toBe(1);
    }
    // The cluster forms again around the restarted etcd.
    await cluster.settled(
      via,
      cluster.nodes.map((n) => n.nodeId),
      60_000,
    );
  });
});
