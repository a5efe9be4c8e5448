import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { status } from "@grpc/grpc-js";
import {
  SagaClient,
  SagaClientError,
  SagaStatus,
  saga,
  tlsChannelCredentials,
} from "@saga-coordinator/participant-sdk";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type Harness, startHarness } from "../support/coordinator-harness.js";
import { type RecordingParticipant, startRecordingParticipant } from "../support/recording-participant.js";
import { testCertificates } from "../support/test-certificates.js";

// Two tenants on one coordinator: each sees and touches only its namespace,
// and both may use the same saga id.

const sha = (token: string) => createHash("sha256").update(token).digest("hex");

describe("namespaces", () => {
  const certs = testCertificates();
  let h: Harness;
  let p: RecordingParticipant;
  let client: (token: string, namespace?: string) => SagaClient;
  const clients: SagaClient[] = [];

  beforeAll(async () => {
    const ca = certs.ca("ns-ca");
    const server = ca.issue("coordinator");
    const policy = path.join(certs.dir, "policy.yaml");
    writeFileSync(
      policy,
      `tokens:
  - { name: team-a, sha256: ${sha("token-a")} }
  - { name: team-b, sha256: ${sha("token-b")} }
  - { name: ops, sha256: ${sha("token-ops")} }
grants:
  - { identities: ["token:team-a"], roles: [client], namespaces: [team-a] }
  - { identities: ["token:team-b"], roles: [client], namespaces: [team-b] }
  - { identities: ["token:ops"], roles: [admin], namespaces: ["*"] }
`,
    );
    p = await startRecordingParticipant({ pay: {} });
    h = await startHarness({
      mongoUri: inject("mongoUri"),
      extra: { "auth-policy": policy, "tls-cert": server.cert, "tls-key": server.key },
      clientCredentials: tlsChannelCredentials(true, { ca: ca.cert }),
    });
    client = (token, namespace) => {
      const c = new SagaClient({
        address: h.node.address,
        credentials: tlsChannelCredentials(true, { ca: ca.cert }),
        bearerToken: token,
        retry: false,
        ...(namespace ? { namespace } : {}),
      });
      clients.push(c);
      return c;
    };
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await h?.close();
    await p?.stop();
    certs.cleanup();
  });

  const order = (amount: string) => saga("order").id("order-1").step("pay", p.address, { json: { amount } });
  const codeOf = (promise: Promise<unknown>) =>
    promise.then(
      () => status.OK,
      (err: unknown) => (err instanceof SagaClientError ? err.code : Promise.reject(err)),
    );

  it("keeps the same saga id apart in two namespaces, down to the participants' idempotency keys", async () => {
    const a = client("token-a", "team-a");
    const b = client("token-b", "team-b");
    const startedA = await a.start(order("10"));
    const startedB = await b.start(order("99"));
    expect(startedA.created && startedB.created).toBe(true);
    expect([startedA.saga.namespace, startedA.saga.sagaId]).toEqual(["team-a", "order-1"]);
    expect((await a.waitFor("order-1")).status).toBe(SagaStatus.SAGA_STATUS_COMPLETED);
    expect((await b.waitFor("order-1")).status).toBe(SagaStatus.SAGA_STATUS_COMPLETED);
    const payloadOf = async (c: SagaClient) =>
      JSON.parse(Buffer.from((await c.get("order-1")).steps[0]?.definition?.payload ?? []).toString());
    expect(await payloadOf(a)).toEqual({ amount: "10" });
    expect(await payloadOf(b)).toEqual({ amount: "99" });
    const keys = [...p.effects.keys()].filter((k) => k.includes("order-1"));
    expect(keys.sort()).toEqual(["team-a/order-1/pay/execute", "team-b/order-1/pay/execute"]);
  });

  it("refuses every method on a namespace the caller is not granted", async () => {
    const intruder = client("token-b", "team-a");
    expect(await codeOf(intruder.get("order-1"))).toBe(status.PERMISSION_DENIED);
    expect(await codeOf(intruder.cancel("order-1"))).toBe(status.PERMISSION_DENIED);
    expect(await codeOf(intruder.list().next())).toBe(status.PERMISSION_DENIED);
    expect(await codeOf(intruder.watch("order-1").next())).toBe(status.PERMISSION_DENIED);
    expect(await codeOf(intruder.start(order("1")))).toBe(status.PERMISSION_DENIED);
    const err = await intruder.get("order-1").catch((e: SagaClientError) => e);
    expect((err as SagaClientError).message).toContain(
      'token:team-b (no role in namespace "team-a") may not call GetSaga: it needs the reader or client or admin or node role there',
    );
    // Without a namespace a call is in "default", which team-b is not granted either.
    expect(await codeOf(client("token-b").get("order-1"))).toBe(status.PERMISSION_DENIED);
  });

  it("lists only the namespace asked for; an admin granted every namespace sees each", async () => {
    const listed = async (c: SagaClient) => {
      const sagas = [];
      for await (const page of c.list()) sagas.push(...page.sagas);
      return sagas.map((s) => `${s.namespace}/${s.sagaId}`);
    };
    expect(await listed(client("token-a", "team-a"))).toEqual(["team-a/order-1"]);
    expect(await listed(client("token-ops", "team-b"))).toEqual(["team-b/order-1"]);
    expect(await listed(client("token-ops"))).toEqual([]);
  });

  it("answers a malformed namespace with INVALID_ARGUMENT naming what is allowed", async () => {
    const err = await client("token-ops", "Team A!")
      .get("order-1")
      .catch((e: SagaClientError) => e);
    expect((err as SagaClientError).code).toBe(status.INVALID_ARGUMENT);
    expect((err as SagaClientError).message).toContain("use 1..63 characters of [a-z0-9-]");
  });
});
