// Coordinator nodes of one benchmark cell, each a child process of the built
// CLI (coordinator/dist/cli/main.js), as users run them.
import { randomUUID } from "node:crypto";
import path from "node:path";
import { credentials } from "@grpc/grpc-js";
import { AdminServiceClient } from "@saga-coordinator/proto";
import { freePort } from "@saga-coordinator/test-services";
import { startChild } from "./child-process.mjs";

const MAIN = path.resolve(import.meta.dirname, "../../coordinator/dist/cli/main.js");

/**
 * Starts `count` nodes: `dev` (memory store, one node) or `start` (MongoDB
 * store `database`; etcd when count > 1). Resolves once every node is ready
 * and, for a cluster, every partition is owned by its assigned node.
 */
export async function startCoordinators({ mode, count, mongoUri, database, etcd, extraArgs = [] }) {
  if (mode === "dev" && count !== 1) throw new Error("dev mode is one node (memory store)");
  if (count > 1 && !etcd) throw new Error(`${count} nodes need etcd: set ETCD_ENDPOINTS`);
  const prefix = `/bench-${randomUUID().slice(0, 8)}`;
  const nodes = [];
  try {
    for (let i = 0; i < count; i++) {
      const [port, metricsPort] = [await freePort(), await freePort()];
      const args = [mode, "--listen", `127.0.0.1:${port}`, "--metrics-listen", `127.0.0.1:${metricsPort}`];
      args.push("--node-id", `bench-${i + 1}`);
      if (mode === "start")
        args.push(
          "--mongodb-uri",
          mongoUri,
          "--mongodb-database",
          database,
          "--allow-direct-participant-addresses",
        );
      if (count > 1) args.push("--etcd-endpoints", etcd, "--etcd-prefix", prefix);
      args.push(...extraArgs);
      const child = await startChild(`coordinator bench-${i + 1}`, MAIN, args, /coordinator ready/, {
        env: { SAGA_LOG_LEVEL: "info" },
      });
      nodes.push({ ...child, address: `127.0.0.1:${port}`, metricsAddress: `127.0.0.1:${metricsPort}` });
    }
    if (count > 1) await waitSettled(nodes);
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop("SIGKILL")));
    throw err;
  }
  return {
    nodes,
    /** Any node that died (its output tail), or null. */
    crashed: () => nodes.find((n) => !n.alive()) ?? null,
    stop: () => Promise.all(nodes.map((n) => n.stop("SIGTERM"))),
  };
}

/** Waits until every node is a member and owns the partitions assigned to it. */
async function waitSettled(nodes, timeoutMs = 120_000) {
  const admin = new AdminServiceClient(nodes[0].address, credentials.createInsecure());
  const until = Date.now() + timeoutMs;
  let last = null;
  try {
    for (;;) {
      last = await new Promise((resolve) =>
        admin.getClusterStatus({}, (err, res) => resolve(err ? { error: err.message } : res)),
      );
      if (!last.error) {
        const assigned = new Set(last.partitions.map((p) => p.assignedNodeId));
        const settled =
          last.members.length === nodes.length &&
          assigned.size === nodes.length &&
          last.partitions.every((p) => p.ownerNodeId === p.assignedNodeId);
        if (settled) return;
      }
      if (Date.now() > until) {
        const owned = last.partitions?.filter((p) => p.ownerNodeId && p.ownerNodeId === p.assignedNodeId);
        const seen =
          last.error ??
          `members ${JSON.stringify(last.members.map((m) => m.nodeId))}, ${owned.length}/${last.partitions.length} partitions owned by their assigned node`;
        throw new Error(`cluster of ${nodes.length} did not settle in ${timeoutMs} ms (last: ${seen})`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    admin.close();
  }
}
