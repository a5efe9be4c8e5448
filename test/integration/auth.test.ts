import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { checkHealth, tlsChannelCredentials } from "@saga-coordinator/participant-sdk";
import { AdminServiceClient, CoordinatorServiceClient, SagaStatus } from "@saga-coordinator/proto";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type Harness, startHarness, step } from "../support/coordinator-harness.js";
import { latch } from "../support/latch.js";
import { type RecordingParticipant, startRecordingParticipant } from "../support/recording-participant.js";
import { type TestCa, testCertificates } from "../support/test-certificates.js";

// A coordinator with an auth policy: static tokens, JWTs signed by a key made
// here, and a client certificate identity. Every call is checked before its
// handler runs.

const sha = (token: string) => createHash("sha256").update(token).digest("hex");
const TOKENS = { reader: "reader-token-1", client: "client-token-1", admin: "admin-token-1" };

type Unary = (
  req: object,
  md: Metadata,
  opts: { deadline: number },
  cb: (err: ServiceError | null) => void,
) => void;

describe("authentication and roles", () => {
  const certs = testCertificates();
  let ca: TestCa;
  let h: Harness;
  let p: RecordingParticipant;
  /** Holds the "hold" step until the tests end, so watches of its saga stay open. */
  const held = latch();
  let sign: (claims: { sub: string; aud?: string; expiresIn?: string }) => Promise<string>;

  beforeAll(async () => {
    ca = certs.ca("auth-ca");
    const { publicKey, privateKey } = await generateKeyPair("ES256");
    const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" };
    const jwks = path.join(certs.dir, "jwks.json");
    writeFileSync(jwks, JSON.stringify({ keys: [jwk] }));
    sign = ({ sub, aud = "saga-coordinator", expiresIn = "5m" }) =>
      new SignJWT({})
        .setProtectedHeader({ alg: "ES256", kid: "k1" })
        .setSubject(sub)
        .setIssuer("https://issuer.test")
        .setAudience(aud)
        .setIssuedAt()
        .setExpirationTime(expiresIn)
        .sign(privateKey);
    const policy = path.join(certs.dir, "policy.yaml");
    writeFileSync(
      policy,
      `tokens:
  - { name: dashboards, sha256: ${sha(TOKENS.reader)} }
  - { name: orders, sha256: ${sha(TOKENS.client)} }
  - { name: ops, sha256: ${sha(TOKENS.admin)} }
jwt: { jwksFile: ${jwks}, issuer: "https://issuer.test", audience: saga-coordinator }
grants:
  - { identities: ["token:dashboards"], roles: [reader] }
  - { identities: ["token:orders", "jwt:orders-service"], roles: [client] }
  - { identities: ["token:ops", "cert:oncall"], roles: [admin] }
`,
    );
    const server = ca.issue("coordinator");
    p = await startRecordingParticipant({
      a: {},
      hold: { execute: () => held.opened.then(() => undefined) },
    });
    h = await startHarness({
      mongoUri: inject("mongoUri"),
      extra: {
        "auth-policy": policy,
        "tls-cert": server.cert,
        "tls-key": server.key,
        "tls-ca": ca.cert,
        "max-watch-streams-per-caller": 1,
      },
      clientCredentials: tlsChannelCredentials(true, { ca: ca.cert }),
    });
  });
  afterAll(async () => {
    held.open();
    await h?.close();
    await p?.stop();
    certs.cleanup();
  });

  /** The status of one call made with `authorization` (or none) and the given channel credentials. */
  async function statusOf(
    method: "startSaga" | "getSaga" | "cancelSaga" | "resumeSaga" | "getClusterStatus",
    authorization: string | null,
    creds = tlsChannelCredentials(true, { ca: ca.cert }),
  ): Promise<{ code: status; details: string }> {
    const client = new CoordinatorServiceClient(h.node.address, creds);
    const admin = new AdminServiceClient(h.node.address, creds);
    const md = new Metadata();
    if (authorization) md.set("authorization", authorization);
    const requests = {
      startSaga: { sagaId: "", sagaType: "t", steps: [step("a", p.address)], labels: {} },
      getSaga: { sagaId: "no-such-saga", includeHistory: false },
      cancelSaga: { sagaId: "no-such-saga", reason: "test" },
      resumeSaga: { sagaId: "no-such-saga", reason: "test", overrides: [] },
      getClusterStatus: {},
    };
    const target = method === "resumeSaga" || method === "getClusterStatus" ? admin : client;
    const fn = (target as unknown as Record<string, Unary>)[method] as Unary;
    try {
      return await new Promise((resolve) =>
        fn.call(target, requests[method], md, { deadline: Date.now() + 10_000 }, (err) =>
          resolve({ code: err?.code ?? status.OK, details: err?.details ?? "" }),
        ),
      );
    } finally {
      client.close();
      admin.close();
    }
  }

  it("refuses a call without credentials or with a bad token, saying what is missing", async () => {
    expect(await statusOf("getSaga", null)).toEqual({
      code: status.UNAUTHENTICATED,
      details:
        'no credentials: present a client certificate (mTLS) or an "authorization: Bearer <token>" header',
    });
    expect(await statusOf("getSaga", "Bearer not-a-token")).toEqual({
      code: status.UNAUTHENTICATED,
      details: "bearer token not recognised",
    });
    expect((await statusOf("getSaga", "Basic abc")).details).toBe(
      'the authorization header must be "Bearer <token>"',
    );
  });

  it("allows each role exactly its methods", async () => {
    const bearer = (t: string) => `Bearer ${t}`;
    // NOT_FOUND / INVALID_ARGUMENT / OK: the call got past the policy to its handler.
    const passed = [status.OK, status.NOT_FOUND];
    const matrix: [string, keyof typeof TOKENS, Parameters<typeof statusOf>[0], boolean][] = [
      ["reader reads", "reader", "getSaga", true],
      ["reader starts", "reader", "startSaga", false],
      ["reader cancels", "reader", "cancelSaga", false],
      ["client starts", "client", "startSaga", true],
      ["client cancels", "client", "cancelSaga", true],
      ["client resumes", "client", "resumeSaga", false],
      ["client reads the cluster status", "client", "getClusterStatus", false],
      ["admin resumes", "admin", "resumeSaga", true],
      ["admin reads the cluster status", "admin", "getClusterStatus", true],
    ];
    for (const [what, role, method, allowed] of matrix) {
      const result = await statusOf(method, bearer(TOKENS[role]));
      if (allowed) expect(passed, `${what}: ${result.details}`).toContain(result.code);
      else expect(result.code, what).toBe(status.PERMISSION_DENIED);
    }
    const denied = await statusOf("startSaga", bearer(TOKENS.reader));
    expect(denied.details).toBe(
      "token:dashboards (roles reader) may not call StartSaga: it needs the client or admin or node role",
    );
  });

  it("accepts a valid JWT and refuses an expired one or one for another audience", async () => {
    expect((await statusOf("startSaga", `Bearer ${await sign({ sub: "orders-service" })}`)).code).toBe(
      status.OK,
    );
    const expired = await statusOf(
      "getSaga",
      `Bearer ${await sign({ sub: "orders-service", expiresIn: "-1m" })}`,
    );
    expect(expired.code).toBe(status.UNAUTHENTICATED);
    expect(expired.details).toMatch(/^bearer JWT refused: .*"exp"/);
    const otherAudience = await statusOf(
      "getSaga",
      `Bearer ${await sign({ sub: "orders-service", aud: "other" })}`,
    );
    expect(otherAudience.code).toBe(status.UNAUTHENTICATED);
    expect(otherAudience.details).toMatch(/"aud"/);
    // Valid, but a subject with no grant.
    const stranger = await statusOf("getSaga", `Bearer ${await sign({ sub: "stranger" })}`);
    expect(stranger).toEqual({
      code: status.PERMISSION_DENIED,
      details:
        "jwt:stranger (no role) may not call GetSaga: it needs the reader or client or admin or node role",
    });
  });

  it("takes the identity of a verified client certificate", async () => {
    const oncall = tlsChannelCredentials(true, { ...ca.issue("oncall"), ca: ca.cert });
    expect((await statusOf("getClusterStatus", null, oncall)).code).toBe(status.OK);
    const intern = tlsChannelCredentials(true, { ...ca.issue("intern"), ca: ca.cert });
    const refused = await statusOf("getClusterStatus", null, intern);
    expect(refused.code).toBe(status.PERMISSION_DENIED);
    expect(refused.details).toMatch(/^cert:intern, cert:127\.0\.0\.1, cert:localhost \(no role\)/);
  });

  it("runs a saga for an allowed client end to end, and leaves health checks open", async () => {
    const tls = tlsChannelCredentials(true, { ca: ca.cert });
    const client = new CoordinatorServiceClient(h.node.address, tls);
    const md = new Metadata();
    md.set("authorization", `Bearer ${TOKENS.client}`);
    try {
      const started = await new Promise<string>((resolve, reject) =>
        client.startSaga(
          { sagaId: "", sagaType: "t", steps: [step("a", p.address)], labels: {} },
          md,
          (err, res) => (err ? reject(err) : resolve(res.saga?.sagaId ?? "")),
        ),
      );
      for (;;) {
        const saga = await new Promise<{ status: SagaStatus }>((resolve, reject) =>
          client.getSaga({ sagaId: started, includeHistory: false }, md, (err, res) =>
            err ? reject(err) : resolve(res.saga as { status: SagaStatus }),
          ),
        );
        if (saga.status === SagaStatus.SAGA_STATUS_COMPLETED) break;
        await new Promise((r) => setTimeout(r, 25));
      }
    } finally {
      client.close();
    }
    expect(await checkHealth(h.node.address, "", 5_000, tls)).toBe("SERVING");
  });

  it("ignores a client's claim that its request was forwarded by another node", async () => {
    const tls = tlsChannelCredentials(true, { ca: ca.cert });
    const client = new CoordinatorServiceClient(h.node.address, tls);
    const md = new Metadata();
    md.set("authorization", `Bearer ${TOKENS.client}`);
    md.set("x-saga-forwarded", "1");
    const sagaId = await new Promise<string>((resolve, reject) =>
      client.startSaga(
        { sagaId: "", sagaType: "t", steps: [step("hold", p.address)], labels: {} },
        md,
        (err, res) => (err ? reject(err) : resolve(res.saga?.sagaId ?? "")),
      ),
    );
    const watch = () => {
      const stream = client.watchSaga({ sagaId, afterSequence: 0 }, md);
      return new Promise<{ stream: typeof stream; result: "open" | ServiceError }>((resolve) => {
        stream.once("data", () => resolve({ stream, result: "open" }));
        stream.on("error", (err: ServiceError) => resolve({ stream, result: err }));
      });
    };
    const first = await watch();
    expect(first.result).toBe("open");
    // Counted against this caller after all (limit 1 per caller), not waved through as forwarded.
    const second = await watch();
    expect((second.result as ServiceError).code).toBe(status.RESOURCE_EXHAUSTED);
    expect((second.result as ServiceError).details).toContain(
      "token:orders already has 1 watch streams open",
    );
    first.stream.cancel();
    client.close();
  });
});
