import { status } from "@grpc/grpc-js";
import { Etcd3 } from "etcd3";
import { afterEach, describe, expect, inject, it } from "vitest";
import { partitionOf } from "../../coordinator/src/cluster/partition-of.js";
import { type RunningService, startLocalEtcd } from "../setup/local-services.js";
import {
  type Cluster,
  type ClusterNodeHandle,
  startCluster,
  waitAllCompleted,
} from "../support/cluster-harness.js";
import { step } from "../support/coordinator-harness.js";
import { startCoordinatorProcess } from "../support/coordinator-process.js";
import { call } from "../support/grpc-call.js";
import { type RecordingParticipant, startRecordingParticipant } from "../support/recording-participant.js";
import { type BlackHoleProxy, startBlackHoleProxy } from "./black-hole-proxy.js";
import { readPartitionTable, tableProblems, waitConverged } from "./partition-table.js";

// The partition table always heals: after an etcd outage, after a node was
// paused past its lease TTL, and when a node drains while etcd is away, every
// partition ends up held by a live member, as the current leader assigned it,
// under that member's current lease. Each test has an etcd of its own, since
// it stops it.

const PARTITIONS = 32;
/** Each test runs a cluster through several phases (fault, heal, sagas); a loaded CI machine is slow. */
const PHASED_TEST_TIMEOUT_MS = 300_000;
const TTL_SECONDS = 2;

/** Polls `check` until it returns a value; fails with `what` at the deadline. */
async function eventually<T>(
  what: string,
  timeoutMs: number,
  check: () => T | undefined | Promise<T | undefined>,
) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** pino lines of a node's output with this message. */
function logLines(output: string, msg: string): Record<string, unknown>[] {
  return output
    .split("\n")
    .filter((line) => line.includes(`"msg":"${msg}"`))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

function logsOf(cluster: Cluster): string {
  return cluster.nodes.map((n) => `--- ${n.nodeId}\n${n.proc.output().slice(-6000)}`).join("\n");
}

describe("cluster liveness", () => {
  let etcdService: RunningService | undefined;
  let etcd: Etcd3 | undefined;
  let cluster: Cluster | undefined;
  let participant: RecordingParticipant | undefined;
  let proxy: BlackHoleProxy | undefined;

  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
    await cluster?.stopAll();
    await participant?.stop();
    etcd?.close();
    await etcdService?.stop();
    cluster = undefined;
    participant = undefined;
  });

  async function setUp(): Promise<{ cluster: Cluster; etcd: Etcd3; service: RunningService }> {
    etcdService = await startLocalEtcd();
    expect(etcdService, "etcd must be on PATH (scripts/install-test-deps.sh)").toBeTruthy();
    const service = etcdService as RunningService;
    etcd = new Etcd3({ hosts: service.url });
    participant = await startRecordingParticipant({ one: {}, two: {} });
    cluster = await startCluster(3, {
      etcd: service.url,
      mongoUri: inject("mongoUri"),
      partitions: PARTITIONS,
      leaseTtlSeconds: TTL_SECONDS,
    });
    await waitConverged(
      etcd,
      cluster.prefix,
      cluster.nodes.map((n) => n.nodeId),
      PARTITIONS,
      60_000,
    );
    return { cluster, etcd, service };
  }

  /**
   * One saga per partition, started round-robin through `nodes`, each finishes with each
   * effect once: every partition is driven, not only held. UNAVAILABLE ("retry shortly")
   * and DEADLINE_EXCEEDED are retried like a client would (same saga_id), until a deadline. Returns when the last start succeeded.
   */
  async function sagasFinish(c: Cluster, nodes: ClusterNodeHandle[], label: string): Promise<number> {
    const ids: string[] = [];
    const covered = new Set<number>();
    for (let i = 0; covered.size < PARTITIONS; i++) {
      const sagaId = `${label}-${i}-${c.prefix.slice(6)}`;
      if (covered.has(partitionOf(sagaId, PARTITIONS))) continue;
      covered.add(partitionOf(sagaId, PARTITIONS));
      ids.push(sagaId);
    }
    const began = Date.now();
    const until = began + 60_000;
    await Promise.all(
      ids.map(async (sagaId, i) => {
        const request = {
          sagaId,
          sagaType: label,
          labels: {},
          steps: ["one", "two"].map((s) => step(s, (participant as RecordingParticipant).address)),
        };
        for (let attempt = 0; ; attempt++) {
          const via = nodes[(i + attempt) % nodes.length] as ClusterNodeHandle;
          try {
            await call(via.proc.client.startSaga, via.proc.client, request, 10_000);
            return;
          } catch (err) {
            const code = (err as { code?: number }).code;
            const retryable = code === status.UNAVAILABLE || code === status.DEADLINE_EXCEEDED;
            if (!retryable || Date.now() > until)
              throw new Error(`starting ${sagaId}: ${String(err)}\n${logsOf(c)}`);
            await new Promise((r) => setTimeout(r, 200));
          }
        }
      }),
    );
    const startedAt = Date.now();
    await waitAllCompleted(nodes[0] as ClusterNodeHandle, ids, 120_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${logsOf(c)}`);
    });
    for (const sagaId of ids)
      for (const s of ["one", "two"]) expect(participant?.effects.get(`${sagaId}/${s}/execute`)).toBe(1);
    return startedAt;
  }

  it(
    "heals after a short etcd outage: every partition held by a live member, as assigned",
    async () => {
      const { cluster, etcd, service } = await setUp();
      const all = cluster.nodes.map((n) => n.nodeId);
      await service.restart({ downMs: 3000 });
      const back = Date.now();
      await waitConverged(etcd, cluster.prefix, all, PARTITIONS, 60_000).catch((err: Error) => {
        throw new Error(`${err.message}\n${logsOf(cluster)}`);
      });
      // Every node's own picture matches etcd, and every partition is driven again.
      await cluster.settled(cluster.nodes[0] as ClusterNodeHandle, all, 30_000);
      const startedAt = await sagasFinish(cluster, cluster.nodes, "outage");
      await waitConverged(etcd, cluster.prefix, all, PARTITIONS, 30_000);
      console.log(
        `[liveness] every partition accepted a saga ${startedAt - back} ms after etcd came back (lease TTL ${TTL_SECONDS} s)`,
      );
      for (const node of cluster.nodes) expect(node.proc.output()).not.toContain("client was already closed");
    },
    PHASED_TEST_TIMEOUT_MS,
  );

  it(
    "a node paused past its lease TTL does not bring back the partitions it lost",
    async () => {
      const { cluster, etcd } = await setUp();
      const [b, c] = cluster.nodes.slice(0, 2) as [ClusterNodeHandle, ClusterNodeHandle];
      // Restart node-3 and freeze it while it is taking partitions: some stamps are under way.
      await (cluster.nodes[2] as ClusterNodeHandle).proc.kill("SIGKILL");
      await waitConverged(etcd, cluster.prefix, [b.nodeId, c.nodeId], PARTITIONS, 60_000);
      const a = await cluster.start(2);
      await eventually("node-3 takes its first partition", 60_000, () =>
        logLines(a.proc.output(), "took partition").length > 0 ? true : undefined,
      );
      a.proc.child.kill("SIGSTOP");
      const frozenAt = Date.now();
      // Its lease runs out; the others take everything over.
      const moved = await waitConverged(etcd, cluster.prefix, [b.nodeId, c.nodeId], PARTITIONS, 60_000);
      const resumedAt = Date.now();
      a.proc.child.kill("SIGCONT");
      console.log(`[liveness] node-3 was frozen ${Date.now() - frozenAt} ms (lease TTL ${TTL_SECONDS} s)`);

      // It rejoins with a new lease and gets its share back, under new keys.
      await waitConverged(
        etcd,
        cluster.prefix,
        cluster.nodes.map((n) => n.nodeId),
        PARTITIONS,
        60_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n${logsOf(cluster)}`);
      });
      // By the time each line says it was written: a paused process flushes older lines after SIGCONT
      // too. etcd shows a key before its holder has stamped and confirmed it, so wait for the lines.
      const takenSince = () =>
        logLines(a.proc.output(), "took partition").filter((line) => Number(line.time) >= resumedAt);
      const taken = await eventually("node-3 takes partitions again", 30_000, () =>
        takenSince().length > 0 ? takenSince() : undefined,
      );
      for (const line of taken) {
        // Every key it created before the pause died with its lease: whatever it took after
        // waking up must be a key created after the others had taken everything over.
        expect(Number(line.fence), JSON.stringify(line)).toBeGreaterThan(moved.revision);
      }
      // What node-3 reports matches etcd (read at the same moment: a loaded cluster may move on).
      await eventually("node-3's status matches etcd", 30_000, async () => {
        const status = await cluster.status(a);
        const now = await readPartitionTable(etcd, cluster.prefix);
        const mine = status.partitions.filter((p) => p.ownerNodeId === a.nodeId);
        return mine.every((p) => now.owners.get(p.partition)?.fence === p.fence) ? true : undefined;
      });
      await sagasFinish(cluster, cluster.nodes, "paused");
    },
    PHASED_TEST_TIMEOUT_MS,
  );

  it(
    "drains within --drain-timeout-ms while etcd is down, and the others take over",
    async () => {
      const { cluster, etcd, service } = await setUp();
      // node-2 again, with a short drain timeout.
      const old = cluster.nodes[1] as ClusterNodeHandle;
      await old.proc.kill("SIGKILL");
      const drainTimeoutMs = 3000;
      const args = [...old.args, "--drain-timeout-ms", String(drainTimeoutMs)];
      const proc = await startCoordinatorProcess(args);
      const b = { nodeId: old.nodeId, args, proc };
      cluster.nodes[1] = b;
      const all = cluster.nodes.map((n) => n.nodeId);
      await waitConverged(etcd, cluster.prefix, all, PARTITIONS, 60_000);

      await service.kill();
      const exited = new Promise<number | null>((resolve) =>
        b.proc.child.once("exit", (code) => resolve(code)),
      );
      const termAt = Date.now();
      b.proc.child.kill("SIGTERM");
      // Generous: without a bound the drain waited on etcd for tens of seconds.
      const code = await eventually("node-2 exits", drainTimeoutMs + 15_000, async () => {
        const settled = await Promise.race([
          exited,
          new Promise<"running">((r) => setTimeout(() => r("running"), 100)),
        ]);
        return settled === "running" ? undefined : { code: settled };
      }).catch((err: Error) => {
        throw new Error(`${err.message}\n${b.proc.output().slice(-6000)}`);
      });
      console.log(
        `[liveness] drain with etcd down took ${Date.now() - termAt} ms (drain timeout ${drainTimeoutMs} ms)`,
      );
      expect(code.code).toBe(0);
      expect(b.proc.output()).toContain("coordinator stopped");
      expect(b.proc.output()).not.toContain("client was already closed");

      await service.start();
      const rest = [cluster.nodes[0], cluster.nodes[2]] as ClusterNodeHandle[];
      const table = await waitConverged(
        etcd,
        cluster.prefix,
        rest.map((n) => n.nodeId),
        PARTITIONS,
        60_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n${logsOf(cluster)}`);
      });
      expect(
        tableProblems(
          table,
          rest.map((n) => n.nodeId),
          PARTITIONS,
        ),
      ).toEqual([]);
      await sagasFinish(cluster, rest, "drained");
      // And the drained node's keys are gone for good.
      const after = await readPartitionTable(etcd, cluster.prefix);
      expect([...after.owners.values()].filter((o) => o.nodeId === b.nodeId)).toEqual([]);
    },
    PHASED_TEST_TIMEOUT_MS,
  );

  it(
    "a node that cannot reach its store gives its partitions up, and takes a share back when it can",
    async () => {
      const { cluster, etcd } = await setUp();
      // node-3 again, reaching the database through a proxy the test can cut.
      const old = cluster.nodes[2] as ClusterNodeHandle;
      await old.proc.kill("SIGKILL");
      const mongoUri = inject("mongoUri");
      const target = new URL(mongoUri).host;
      proxy = await startBlackHoleProxy(target);
      const args = old.args.map((arg) =>
        arg === mongoUri ? mongoUri.replace(target, proxy?.address ?? "") : arg,
      );
      args.push("--store-unavailable-ms", "3000");
      const c = { nodeId: old.nodeId, args, proc: await startCoordinatorProcess(args) };
      cluster.nodes[2] = c;
      const all = cluster.nodes.map((n) => n.nodeId);
      await waitConverged(etcd, cluster.prefix, all, PARTITIONS, 60_000);

      proxy.cut();
      const cutAt = Date.now();
      const others = all.filter((id) => id !== c.nodeId);
      await waitConverged(etcd, cluster.prefix, others, PARTITIONS, 60_000).catch((err: Error) => {
        throw new Error(`${err.message}\n${logsOf(cluster)}`);
      });
      console.log(`[liveness] node-3 gave its partitions up ${Date.now() - cutAt} ms after losing its store`);
      expect(c.proc.output()).toContain("the saga store has not answered");
      await sagasFinish(cluster, [cluster.nodes[0], cluster.nodes[1]] as ClusterNodeHandle[], "no-store");

      proxy.restore();
      await waitConverged(etcd, cluster.prefix, all, PARTITIONS, 60_000).catch((err: Error) => {
        throw new Error(`${err.message}\n${logsOf(cluster)}`);
      });
      expect(c.proc.output()).toContain("the saga store answers again");
      await sagasFinish(cluster, cluster.nodes, "store-back");
    },
    PHASED_TEST_TIMEOUT_MS,
  );
});
