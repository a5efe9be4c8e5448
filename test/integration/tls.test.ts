import { type ServiceError, status } from "@grpc/grpc-js";
import {
  type Participant,
  startParticipant,
  tlsChannelCredentials,
  tlsServerCredentials,
} from "@saga-coordinator/participant-sdk";
import { CoordinatorServiceClient, ParticipantServiceClient, SagaStatus } from "@saga-coordinator/proto";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type Harness, startHarness, step } from "../support/coordinator-harness.js";
import { call, callError } from "../support/grpc-call.js";
import { type TestCa, testCertificates } from "../support/test-certificates.js";

// Every hop with certificates made here: a CA the deployment trusts, and a
// rogue CA that issues look-alike certificates (same names) nobody trusts.

describe("TLS and mTLS on every hop", () => {
  const certs = testCertificates();
  let ca: TestCa;
  let rogue: TestCa;
  let participant: Participant;
  let h: Harness;
  const handled: string[] = [];

  beforeAll(async () => {
    ca = certs.ca("deployment-ca");
    rogue = certs.ca("rogue-ca");
    const participantCert = ca.issue("payments");
    participant = await startParticipant({
      listen: "127.0.0.1:0",
      steps: {
        charge: {
          execute: async (ctx) => {
            handled.push(`execute ${ctx.sagaId}`);
            return new TextEncoder().encode("charged");
          },
          compensate: async (ctx) => {
            handled.push(`compensate ${ctx.sagaId}`);
          },
        },
      },
      credentials: tlsServerCredentials({ ...participantCert, ca: ca.cert }),
      allowedCallers: ["coordinator"],
      logger: pino({ level: "silent" }),
    });
    const server = ca.issue("coordinator");
    const client = ca.issue("orders-client");
    h = await startHarness({
      mongoUri: inject("mongoUri"),
      extra: {
        "tls-cert": server.cert,
        "tls-key": server.key,
        "tls-ca": ca.cert,
        "tls-require-client-cert": true,
        "participant-tls-ca": ca.cert,
      },
      clientCredentials: tlsChannelCredentials(true, { ...client, ca: ca.cert }),
    });
  });
  afterAll(async () => {
    await h?.close();
    await participant?.shutdown();
    certs.cleanup();
  });

  const getSaga = (client: CoordinatorServiceClient) =>
    callError(client.getSaga, client, { sagaId: "nothing", includeHistory: false });

  it("runs a saga end to end: client -> coordinator -> participant, each verified by certificate", async () => {
    const saga = await h.start({ steps: [step("charge", participant.address)] });
    const done = await h.waitFor(saga.sagaId);
    expect(done.status).toBe(SagaStatus.SAGA_STATUS_COMPLETED);
    expect(handled).toContain(`execute ${saga.sagaId}`);
  });

  it("refuses plaintext, missing and untrusted client certificates at the coordinator", async () => {
    const attempts = {
      plaintext: tlsChannelCredentials(false, {}),
      "no client certificate": tlsChannelCredentials(true, { ca: ca.cert }),
      "certificate from an untrusted CA": tlsChannelCredentials(true, {
        ...rogue.issue("orders-client"),
        ca: ca.cert,
      }),
    };
    for (const [what, creds] of Object.entries(attempts)) {
      const client = new CoordinatorServiceClient(h.node.address, creds);
      const err = await getSaga(client);
      client.close();
      expect(err.code, what).toBe(status.UNAVAILABLE);
    }
    // The same call with a trusted client certificate reaches the service.
    expect((await getSaga(h.client)).code).toBe(status.NOT_FOUND);
  });

  it("a participant refuses a forged Execute or Compensate from anyone but the coordinator", async () => {
    const request = {
      sagaId: "forged-1",
      sagaType: "payments",
      step: "charge",
      attempt: 1,
      idempotencyKey: "forged-1/charge",
      payload: Buffer.from("{}"),
      contentType: "application/json",
      dependencyOutputs: {},
    };
    const { dependencyOutputs: _, ...common } = request;
    const compensate = { ...common, executeOutput: Buffer.from("charged"), reason: "forged" };
    const callers = {
      "a trusted certificate of another identity": tlsChannelCredentials(true, {
        ...ca.issue("orders-client"),
        ca: ca.cert,
      }),
      "the coordinator's name from an untrusted CA": tlsChannelCredentials(true, {
        ...rogue.issue("coordinator"),
        ca: ca.cert,
      }),
      "no client certificate": tlsChannelCredentials(true, { ca: ca.cert }),
      plaintext: tlsChannelCredentials(false, {}),
    };
    for (const [who, creds] of Object.entries(callers)) {
      const client = new ParticipantServiceClient(participant.address, creds);
      const errors: ServiceError[] = [
        await callError(client.execute, client, request),
        await callError(client.compensate, client, compensate),
      ];
      client.close();
      for (const err of errors)
        expect([status.PERMISSION_DENIED, status.UNAVAILABLE], who).toContain(err.code);
      if (who === "a trusted certificate of another identity") {
        expect(errors.map((e) => e.code)).toEqual([status.PERMISSION_DENIED, status.PERMISSION_DENIED]);
        expect(errors[0]?.details).toMatch(
          /^caller orders-client.* is not an allowed coordinator identity \(allowed: coordinator\)$/,
        );
      }
    }
    expect(handled.filter((h) => h.includes("forged-1"))).toEqual([]);
  });

  it("the coordinator does not call a participant whose certificate it cannot verify", async () => {
    const impostor = await startParticipant({
      listen: "127.0.0.1:0",
      steps: {
        charge: {
          execute: async () => {
            handled.push("impostor");
            return new Uint8Array();
          },
          compensate: async () => {},
        },
      },
      credentials: tlsServerCredentials({ ...rogue.issue("payments"), ca: ca.cert }),
      logger: pino({ level: "silent" }),
    });
    try {
      const saga = await h.start({ steps: [step("charge", impostor.address)] });
      // The failed handshake is recorded as the step's last error; the call never reaches the handler.
      for (;;) {
        const current = await h.get(saga.sagaId);
        const lastError = current.steps.find((s) => s.definition?.name === "charge")?.lastError ?? "";
        if (lastError) {
          expect(lastError).toMatch(/UNAVAILABLE/);
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(handled).not.toContain("impostor");
      await call(h.client.cancelSaga, h.client, { sagaId: saga.sagaId, reason: "test over" });
    } finally {
      await impostor.shutdown();
    }
  });
});
