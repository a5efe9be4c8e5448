import { writeFileSync } from "node:fs";
import path from "node:path";
import { status } from "@grpc/grpc-js";
import { type Participant, startParticipant, tlsServerCredentials } from "@saga-coordinator/participant-sdk";
import { SagaStatus } from "@saga-coordinator/proto";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ParticipantRegistryError } from "../../coordinator/src/config/participant-registry.js";
import { type Harness, startHarness, step } from "../support/coordinator-harness.js";
import { call, callError } from "../support/grpc-call.js";
import { type RecordingParticipant, startRecordingParticipant } from "../support/recording-participant.js";
import { testCertificates } from "../support/test-certificates.js";

// In start mode a step names a registered participant; the coordinator dials
// only registered addresses, so a caller cannot use it to probe the network.

describe("participant registry", () => {
  let p: RecordingParticipant;
  let registryOnly: Harness;
  let direct: Harness;
  beforeAll(async () => {
    p = await startRecordingParticipant({ a: {} });
    registryOnly = await startHarness({
      mongoUri: inject("mongoUri"),
      extra: { participant: [`payments=${p.address}`], "allow-direct-participant-addresses": undefined },
    });
    direct = await startHarness({ mongoUri: inject("mongoUri") });
  });
  afterAll(async () => {
    await registryOnly?.close();
    await direct?.close();
    await p?.stop();
  });

  const startRequest = (participant: string) => ({
    sagaId: "",
    sagaType: "t",
    steps: [step("a", participant)],
    labels: {},
  });

  it("refuses an unregistered address at StartSaga, naming the registered participants", async () => {
    for (const target of [p.address, "127.0.0.1:22", "[::1]:2379", "metadata.internal:80"]) {
      const err = await callError(registryOnly.client.startSaga, registryOnly.client, startRequest(target));
      expect(err.code, target).toBe(status.INVALID_ARGUMENT);
      expect(err.details).toContain(
        `is not a registered participant (one of payments); this node takes no direct host:port addresses (--allow-direct-participant-addresses)`,
      );
    }
    expect(p.calls).toEqual([]);
  });

  it("runs a saga whose step names a registered participant", async () => {
    const saga = await registryOnly.start({ steps: [step("a", "payments")] });
    expect((await registryOnly.waitFor(saga.sagaId)).status).toBe(SagaStatus.SAGA_STATUS_COMPLETED);
  });

  it("checks the port of a direct address where those are allowed", async () => {
    for (const port of [0, 65_536, 99_999]) {
      const err = await callError(direct.client.startSaga, direct.client, startRequest(`127.0.0.1:${port}`));
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(err.details).toContain(`port ${port} is not in 1..65535`);
    }
  });
});

// A registry file: per-participant namespaces, and TLS settings of its own for
// one participant (another CA and the name on its certificate) while the node's
// other participants stay plaintext.
describe("participant registry file", () => {
  const certs = testCertificates();
  let plain: RecordingParticipant;
  let secure: Participant;
  let h: Harness;
  const charged: string[] = [];

  beforeAll(async () => {
    const paymentsCa = certs.ca("payments-ca");
    const nodeCa = certs.ca("node-ca");
    plain = await startRecordingParticipant({ a: {} });
    secure = await startParticipant({
      listen: "127.0.0.1:0",
      steps: {
        charge: {
          execute: async (ctx) => {
            charged.push(ctx.sagaId);
            return new Uint8Array();
          },
          compensate: async () => {},
        },
      },
      credentials: tlsServerCredentials({ ...paymentsCa.issue("payments.internal"), ca: nodeCa.cert }),
      allowedCallers: ["coordinator"],
      logger: pino({ level: "silent" }),
    });
    const nodeCert = nodeCa.issue("coordinator");
    const file = path.join(certs.dir, "participants.yaml");
    writeFileSync(
      file,
      `participants:
  inventory: { address: "${plain.address}", namespaces: [shop, default] }
  payments:
    address: "${secure.address}"
    namespaces: [shop]
    tls: { ca: ${paymentsCa.cert}, cert: ${nodeCert.cert}, key: ${nodeCert.key}, serverName: localhost }
`,
    );
    h = await startHarness({
      mongoUri: inject("mongoUri"),
      extra: { "participants-file": file, "allow-direct-participant-addresses": undefined },
    });
  });
  afterAll(async () => {
    await h?.close();
    await plain?.stop();
    await secure?.shutdown();
    certs.cleanup();
  });

  it("calls a participant over its own TLS settings and another in plaintext, in one saga", async () => {
    const res = await call(h.client.startSaga, h.client, {
      sagaId: "order-1",
      namespace: "shop",
      sagaType: "order",
      steps: [step("a", "inventory"), step("charge", "payments", { dependsOn: ["a"] })],
      labels: {},
    });
    expect(res.saga?.namespace).toBe("shop");
    for (;;) {
      const saga = (
        await call(h.client.getSaga, h.client, {
          sagaId: "order-1",
          namespace: "shop",
          includeHistory: false,
        })
      ).saga;
      if (saga?.status === SagaStatus.SAGA_STATUS_COMPLETED) break;
      expect(saga?.status, saga?.steps.map((s) => s.lastError).join("; ")).toBe(
        SagaStatus.SAGA_STATUS_RUNNING,
      );
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(charged).toEqual(["shop/order-1"]);
  });

  it("refuses a step whose participant does not serve the saga's namespace, naming the ones it does", async () => {
    const err = await callError(h.client.startSaga, h.client, {
      sagaId: "",
      sagaType: "order",
      steps: [step("a", "inventory"), step("charge", "payments")],
      labels: {},
    });
    expect(err.code).toBe(status.PERMISSION_DENIED);
    expect(err.details).toBe(
      'steps[1].participant: "payments" does not serve namespace "default" (it serves: shop)',
    );
    expect(charged).not.toContain("default");
  });

  it("stops a node whose registry file is not valid, naming each bad entry", async () => {
    const bad = path.join(certs.dir, "bad-participants.yaml");
    writeFileSync(
      bad,
      `participants:
  payments: { address: "10.0.0.7:70000", namespaces: [Shop] }
  ledger: { address: "ledger:7001", tls: { cert: /x.crt } }
`,
    );
    const failure = startHarness({ mongoUri: inject("mongoUri"), extra: { "participants-file": bad } });
    await expect(failure).rejects.toThrow(ParticipantRegistryError);
    await expect(failure).rejects.toThrow(
      /participants\.payments\.address: port must be in 1\.\.65535[\s\S]*participants\.payments\.namespaces\.0: must be a namespace[\s\S]*participants\.ledger\.tls: give both cert and key, or neither/,
    );
  });
});
