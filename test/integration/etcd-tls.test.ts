import { SagaStatus } from "@saga-coordinator/proto";
import { type RunningService, startLocalEtcd } from "@saga-coordinator/test-services";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type Harness, startHarness, step } from "../support/coordinator-harness.js";
import { call } from "../support/grpc-call.js";
import { type RecordingParticipant, startRecordingParticipant } from "../support/recording-participant.js";
import { testCertificates } from "../support/test-certificates.js";

// A node whose etcd serves only TLS and requires client certificates.

describe("etcd over TLS with a client certificate", () => {
  const certs = testCertificates();
  let etcd: RunningService | undefined;
  let h: Harness;
  let p: RecordingParticipant;

  beforeAll(async () => {
    const ca = certs.ca("etcd-ca");
    const server = ca.issue("etcd");
    const client = ca.issue("saga-coordinator");
    etcd = await startLocalEtcd({ tls: { ...server, ca: ca.cert } });
    if (!etcd) throw new Error("etcd is not on PATH: run scripts/install-test-deps.sh");
    expect(etcd.url).toMatch(/^https:/);
    p = await startRecordingParticipant({ a: {} });
    h = await startHarness({
      mongoUri: inject("mongoUri"),
      extra: {
        "etcd-endpoints": etcd.url,
        "etcd-ca": ca.cert,
        "etcd-cert": client.cert,
        "etcd-key": client.key,
      },
    });
  });
  afterAll(async () => {
    await h?.close();
    await p?.stop();
    await etcd?.stop();
    certs.cleanup();
  });

  it("joins the cluster through TLS etcd and runs a saga", async () => {
    const status = await call(h.admin.getClusterStatus, h.admin, {});
    expect(status.members.map((m) => m.nodeId)).toEqual(["test-node"]);
    const saga = await h.start({ steps: [step("a", p.address)] });
    expect((await h.waitFor(saga.sagaId)).status).toBe(SagaStatus.SAGA_STATUS_COMPLETED);
  });
});
