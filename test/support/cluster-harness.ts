import { randomUUID } from "node:crypto";
import { credentials, status } from "@grpc/grpc-js";
import { AdminServiceClient, type GetClusterStatusResponse, SagaStatus } from "@saga-coordinator/proto";
import { type CoordinatorProcess, startCoordinatorProcess } from "./coordinator-process.js";
import { freePort } from "./free-port.js";
import { call } from "./grpc-call.js";

export interface ClusterNodeHandle {
  nodeId: string;
  args: string[];
  proc: CoordinatorProcess;
}

export interface Cluster {
  prefix: string;
  database: string;
  nodes: ClusterNodeHandle[];
  /** Starts (or restarts) node i. */
  start(i: number): Promise<ClusterNodeHandle>;
  status(via: ClusterNodeHandle): Promise<GetClusterStatusResponse>;
  /** Waits until every partition is held by a live node. */
  settled(
    via: ClusterNodeHandle,
    liveNodeIds: string[],
    timeoutMs?: number,
  ): Promise<GetClusterStatusResponse>;
  stopAll(): Promise<void>;
}

/** N real coordinator processes sharing etcd (own key prefix) and MongoDB (own database). */
export async function startCluster(
  size: number,
  opts: { etcd: string; mongoUri: string; partitions?: number; leaseTtlSeconds?: number },
): Promise<Cluster> {
  const prefix = `/test-${randomUUID().slice(0, 8)}`;
  const database = `cluster_${randomUUID().slice(0, 8)}`;
  const nodes: ClusterNodeHandle[] = [];
  const ports = await Promise.all(Array.from({ length: size }, () => freePort()));
  const argsFor = (i: number) => [
    "start",
    "--allow-direct-participant-addresses",
    "--listen",
    `127.0.0.1:${ports[i]}`,
    "--node-id",
    `node-${i + 1}`,
    "--etcd-endpoints",
    opts.etcd,
    "--etcd-prefix",
    prefix,
    "--mongodb-uri",
    opts.mongoUri,
    "--mongodb-database",
    database,
    "--partitions",
    String(opts.partitions ?? 64),
    "--lease-ttl-seconds",
    String(opts.leaseTtlSeconds ?? 2),
    "--poll-interval-ms",
    "100",
    "--lost-call-grace-ms",
    "1000",
  ];
  const cluster: Cluster = {
    prefix,
    database,
    nodes,
    async start(i) {
      const args = argsFor(i);
      const handle = { nodeId: `node-${i + 1}`, args, proc: await startCoordinatorProcess(args) };
      nodes[i] = handle;
      return handle;
    },
    async status(via) {
      const admin = new AdminServiceClient(via.proc.address, credentials.createInsecure());
      try {
        return await call(admin.getClusterStatus, admin, {});
      } finally {
        admin.close();
      }
    },
    async settled(via, liveNodeIds, timeoutMs = 90_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        // UNAVAILABLE (e.g. etcd restarting) just means "not settled yet".
        const s = await cluster.status(via).catch((err: { code?: number }) => {
          if (err.code === status.UNAVAILABLE && Date.now() < until) return null;
          throw err;
        });
        if (!s) {
          await new Promise((r) => setTimeout(r, 200));
          continue;
        }
        const live = new Set(liveNodeIds);
        const assigned = new Set(s.partitions.map((p) => p.assignedNodeId));
        const ok =
          s.members.length === live.size &&
          assigned.size === live.size &&
          [...assigned].every((id) => live.has(id)) &&
          s.partitions.every((p) => p.ownerNodeId === p.assignedNodeId);
        if (ok) return s;
        if (Date.now() > until) throw new Error(`cluster did not settle: ${JSON.stringify(s.members)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stopAll() {
      await Promise.all(nodes.map((n) => n?.proc.kill("SIGKILL")));
    },
  };
  for (let i = 0; i < size; i++) await cluster.start(i);
  return cluster;
}

/** Polls `via` until every saga in `ids` is COMPLETED; fails naming the first one that is not by the deadline. */
export async function waitAllCompleted(
  via: ClusterNodeHandle,
  ids: string[],
  timeoutMs = 120_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (const sagaId of ids) {
    for (;;) {
      const { saga } = await call(via.proc.client.getSaga, via.proc.client, {
        sagaId,
        includeHistory: false,
      });
      if (saga?.status === SagaStatus.SAGA_STATUS_COMPLETED) break;
      if (Date.now() > until)
        throw new Error(`saga ${sagaId} did not finish: ${SagaStatus[saga?.status ?? 0]}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
