import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { status } from "@grpc/grpc-js";
import { tlsChannelCredentials } from "@saga-coordinator/participant-sdk";
import {
  AdminServiceClient,
  CoordinatorServiceClient,
  type GetClusterStatusResponse,
  SagaStatus,
} from "@saga-coordinator/proto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { partitionOf } from "../../coordinator/src/cluster/partition-of.js";
import { step } from "../support/coordinator-harness.js";
import { type CoordinatorProcess, startCoordinatorProcess } from "../support/coordinator-process.js";
import { freePort } from "../support/free-port.js";
import { call } from "../support/grpc-call.js";
import { type RecordingParticipant, startRecordingParticipant } from "../support/recording-participant.js";
import { type TestCa, testCertificates } from "../support/test-certificates.js";

// Two nodes that serve only mTLS, with an auth policy: a write sent to the node
// that does not own the saga's partition is forwarded to the owner over TLS,
// the forwarding node proving itself with its certificate (the node role) and
// carrying the caller's identity; a client certificate from another CA is
// refused by both.

const PARTITIONS = 16;

describe("forwarding between nodes over mTLS", () => {
  const certs = testCertificates();
  let ca: TestCa;
  let participant: RecordingParticipant;
  const nodes: CoordinatorProcess[] = [];
  const clients: CoordinatorServiceClient[] = [];
  let admin: AdminServiceClient;

  beforeAll(async () => {
    ca = certs.ca("cluster-ca");
    const nodeCert = ca.issue("saga-node");
    const policy = path.join(certs.dir, "policy.yaml");
    writeFileSync(
      policy,
      `grants:
  - { identities: ["cert:orders"], roles: [admin] }
  - { identities: ["cert:saga-node"], roles: [node] }
`,
    );
    participant = await startRecordingParticipant({ a: {} });
    const prefix = `/tls-${randomUUID().slice(0, 8)}`;
    const database = `tls_cluster_${randomUUID().slice(0, 8)}`;
    for (let i = 1; i <= 2; i++) {
      const port = await freePort();
      // biome-ignore format: one flag and its value per line
      nodes.push(await startCoordinatorProcess([
        "start", "--listen", `127.0.0.1:${port}`, "--node-id", `node-${i}`,
        "--etcd-endpoints", inject("etcdEndpoints"), "--etcd-prefix", prefix,
        "--mongodb-uri", inject("mongoUri"), "--mongodb-database", database,
        "--partitions", String(PARTITIONS), "--lease-ttl-seconds", "2",
        "--tls-cert", nodeCert.cert, "--tls-key", nodeCert.key, "--tls-ca", ca.cert, "--tls-require-client-cert",
        "--auth-policy", policy, "--allow-direct-participant-addresses",
      ]));
    }
    const orders = tlsChannelCredentials(true, { ...ca.issue("orders"), ca: ca.cert });
    for (const node of nodes) clients.push(new CoordinatorServiceClient(node.address, orders));
    admin = new AdminServiceClient(nodes[0]?.address as string, orders);
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    admin?.close();
    for (const node of nodes) await node.kill("SIGKILL");
    await participant?.stop();
    certs.cleanup();
  });

  /** The cluster status once both nodes own their assigned partitions. */
  async function settled(): Promise<GetClusterStatusResponse> {
    for (;;) {
      const s = await call(admin.getClusterStatus, admin, {}).catch(() => null);
      const owners = new Set(s?.partitions.map((p) => p.ownerNodeId));
      if (s && owners.size === 2 && s.partitions.every((p) => p.ownerNodeId === p.assignedNodeId)) return s;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it("forwards StartSaga and CancelSaga to the owner over TLS; sagas run on either node", async () => {
    const s = await settled();
    const ownerOf = (id: string) => s.partitions[partitionOf(id, PARTITIONS)]?.ownerNodeId;
    // Eight sagas owned by node-2 and eight by node-1, all started through node-1.
    const ids: string[] = [];
    const counts = { "node-1": 0, "node-2": 0 };
    for (let i = 0; counts["node-1"] < 8 || counts["node-2"] < 8; i++) {
      const id = `fwd-${i}`;
      const owner = ownerOf(id) as keyof typeof counts;
      if (counts[owner] >= 8) continue;
      counts[owner]++;
      ids.push(id);
    }
    const via = clients[0] as CoordinatorServiceClient;
    for (const sagaId of ids) {
      const res = await call(via.startSaga, via, {
        sagaId,
        sagaType: "fwd",
        labels: {},
        steps: [step("a", participant.address)],
      });
      expect(res.created).toBe(true);
    }
    for (const sagaId of ids) {
      for (;;) {
        const { saga } = await call(via.getSaga, via, { sagaId, includeHistory: false });
        if (saga?.status === SagaStatus.SAGA_STATUS_COMPLETED) break;
        expect(saga?.status).toBe(SagaStatus.SAGA_STATUS_RUNNING);
        await new Promise((r) => setTimeout(r, 25));
      }
    }
    // Cancelling a finished saga owned by node-2, through node-1: the owner's answer comes back.
    const remote = ids.find((id) => ownerOf(id) === "node-2") as string;
    const err = await call(via.cancelSaga, via, { sagaId: remote, reason: "late" }).catch((e) => e);
    expect(err.code).toBe(status.FAILED_PRECONDITION);
  });

  it("refuses a client certificate from another CA on every node", async () => {
    const rogue = certs.ca("rogue-ca");
    for (const node of nodes) {
      const c = new CoordinatorServiceClient(
        node.address,
        tlsChannelCredentials(true, { ...rogue.issue("orders"), ca: ca.cert }),
      );
      const err = await call(c.getSaga, c, { sagaId: "fwd-0", includeHistory: false }, 5_000).catch((e) => e);
      c.close();
      expect(err.code).toBe(status.UNAVAILABLE);
    }
  });
});
