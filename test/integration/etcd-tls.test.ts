import { writeFileSync } from "node:fs";
import path from "node:path";
import { SagaStatus } from "@saga-coordinator/proto";
import { type RunningService, startLocalEtcd } from "@saga-coordinator/test-services";
import { Etcd3 } from "etcd3";
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

describe("etcd with authentication", () => {
  const certs = testCertificates();
  let etcd: RunningService | undefined;
  let h: Harness;
  let p: RecordingParticipant;
  const password = "etcd-secret-1";

  beforeAll(async () => {
    etcd = await startLocalEtcd();
    if (!etcd) throw new Error("etcd is not on PATH: run scripts/install-test-deps.sh");
    // etcd refuses to enable auth without a root user holding the root role.
    const admin = new Etcd3({ hosts: etcd.url });
    await admin.auth.roleAdd({ name: "root" });
    await admin.auth.userAdd({ name: "root", password });
    await admin.auth.userGrantRole({ user: "root", role: "root" });
    await admin.auth.authEnable();
    admin.close();
    const passwordFile = path.join(certs.dir, "etcd-password");
    writeFileSync(passwordFile, `${password}\n`);
    p = await startRecordingParticipant({ a: {} });
    h = await startHarness({
      mongoUri: inject("mongoUri"),
      extra: { "etcd-endpoints": etcd.url, "etcd-username": "root", "etcd-password-file": passwordFile },
    });
  });
  afterAll(async () => {
    await h?.close();
    await p?.stop();
    await etcd?.stop();
    certs.cleanup();
  });

  it("joins with the user and the password from a file, and runs a saga", async () => {
    const anonymous = new Etcd3({ hosts: etcd?.url ?? "" });
    await expect(anonymous.get("/t/x").string()).rejects.toThrow(
      /user name is empty|permission denied|invalid auth token/i,
    );
    anonymous.close();
    const status = await call(h.admin.getClusterStatus, h.admin, {});
    expect(status.members.map((m) => m.nodeId)).toEqual(["test-node"]);
    const saga = await h.start({ steps: [step("a", p.address)] });
    expect((await h.waitFor(saga.sagaId)).status).toBe(SagaStatus.SAGA_STATUS_COMPLETED);
  });
});
