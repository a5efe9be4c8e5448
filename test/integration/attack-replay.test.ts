import { createHash, randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import {
  Client,
  type ClientReadableStream,
  credentials,
  InterceptingCall,
  type Interceptor,
  Metadata,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import {
  type Participant,
  startParticipant,
  tlsChannelCredentials,
  tlsServerCredentials,
} from "@saga-coordinator/participant-sdk";
import {
  CoordinatorServiceClient,
  ParticipantServiceClient,
  type Saga,
  SagaStatus,
  StartSagaRequest,
  type StepDefinition,
  StepKind,
  type WatchSagaResponse,
} from "@saga-coordinator/proto";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { step } from "../support/coordinator-harness.js";
import { type CoordinatorProcess, startCoordinatorProcess } from "../support/coordinator-process.js";
import { freePort } from "../support/free-port.js";
import { call } from "../support/grpc-call.js";
import { latch } from "../support/latch.js";
import { type RecordingParticipant, startRecordingParticipant } from "../support/recording-participant.js";
import { testCertificates } from "../support/test-certificates.js";
import { spawnTracked } from "../support/tracked-process.js";

// The attacks of issue 11, sent again to a real coordinator process on the
// durable store, with an auth policy and a participant registry: each gets a
// clear status naming what is wrong or which limit applies, a probe GetSaga
// answers while it happens, and the node's memory stays bounded.

const TOKENS = { shop: "shop-client-token", admin: "admin-token" };
const sha = (s: string) => createHash("sha256").update(s).digest("hex");
/** A probe that takes longer than this counts as a node that stopped answering (the attacks blocked it for 26 s+). */
const PROBE_DEADLINE_MS = 5_000;
/** Resident memory the node may reach under every attack at once (one replayed attack alone reached 3.5 GB). */
const RSS_BOUND_BYTES = 512 * 1024 * 1024;
const MAIN = path.resolve(import.meta.dirname, "../../coordinator/dist/cli/main.js");

/** A client whose every call carries `token` as its bearer token. */
function tokenClient(address: string, token: string | null): CoordinatorServiceClient {
  const addToken: Interceptor = (options, next) =>
    new InterceptingCall(next(options), {
      start(metadata, listener, nextStart) {
        if (token) metadata.set("authorization", `Bearer ${token}`);
        nextStart(metadata, listener);
      },
    });
  return new CoordinatorServiceClient(address, credentials.createInsecure(), { interceptors: [addToken] });
}

async function failure<T>(p: Promise<T>): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error("expected the call to fail");
}

function rssOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+) kB/m);
  if (!line) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(line[1]) * 1024;
}

describe("attack replay (issue 11): clear statuses, a responsive node, bounded memory", () => {
  const certs = testCertificates();
  let node: CoordinatorProcess;
  let shop: CoordinatorServiceClient;
  let admin: CoordinatorServiceClient;
  let anonymous: CoordinatorServiceClient;
  let p: RecordingParticipant;
  let probeSagaId: string;
  const held = latch();

  beforeAll(async () => {
    p = await startRecordingParticipant({
      ok: {},
      big: { execute: async () => new Uint8Array(3 * 1024 * 1024).fill(7) },
      hold: { execute: () => held.opened.then(() => undefined) },
    });
    const policy = path.join(certs.dir, "policy.yaml");
    writeFileSync(
      policy,
      `tokens:
  - { name: shop, sha256: ${sha(TOKENS.shop)} }
  - { name: ops, sha256: ${sha(TOKENS.admin)} }
grants:
  - { identities: ["token:shop"], roles: [client], namespaces: [shop] }
  - { identities: ["token:ops"], roles: [admin], namespaces: ["*"] }
`,
    );
    const port = await freePort();
    // biome-ignore format: one flag and its value per line
    node = await startCoordinatorProcess([
      "start", "--listen", `127.0.0.1:${port}`,
      "--mongodb-uri", inject("mongoUri"), "--mongodb-database", `attack_${randomUUID().slice(0, 8)}`,
      "--participant", `payments=${p.address}`,
      "--auth-policy", policy,
      "--max-watch-streams-per-caller", "50",
      "--poll-interval-ms", "200",
    ]);
    shop = tokenClient(node.address, TOKENS.shop);
    admin = tokenClient(node.address, TOKENS.admin);
    anonymous = tokenClient(node.address, null);
    const started = await call(shop.startSaga, shop, {
      sagaId: "probe",
      namespace: "shop",
      sagaType: "probe",
      steps: [step("ok", "payments")],
      labels: {},
    });
    probeSagaId = started.saga?.sagaId ?? "";
  });
  afterAll(async () => {
    held.open();
    for (const c of [shop, admin, anonymous]) c?.close();
    await node?.kill("SIGKILL");
    await p?.stop();
    certs.cleanup();
  });

  /** GetSaga of a saga that exists, within PROBE_DEADLINE_MS: the node still answers. */
  const probe = async () => {
    const res = await call(
      shop.getSaga,
      shop,
      { sagaId: probeSagaId, namespace: "shop", includeHistory: false },
      PROBE_DEADLINE_MS,
    );
    expect(res.saga?.sagaId).toBe(probeSagaId);
  };

  /** Runs `attack` and a probe at once; the probe must answer while the attack is under way. */
  async function whileProbing<T>(attack: () => Promise<T>): Promise<T> {
    const [result] = await Promise.all([attack(), probe()]);
    return result;
  }

  const start = (
    client: CoordinatorServiceClient,
    over: Partial<StartSagaRequest> & { steps: StepDefinition[] },
  ) =>
    call(client.startSaga, client, {
      sagaId: "",
      namespace: "shop",
      sagaType: "attack",
      labels: {},
      ...over,
    });

  it("refuses calls without credentials, and another tenant's namespace", async () => {
    const unauthenticated = await whileProbing(() =>
      failure(
        call(anonymous.listSagas, anonymous, {
          status: 0,
          sagaType: "",
          labels: {},
          pageSize: 1000,
          pageToken: "",
        }),
      ),
    );
    expect(unauthenticated.code).toBe(status.UNAUTHENTICATED);
    expect(unauthenticated.details).toMatch(/credentials|token|certificate/i);
    const otherTenant = await failure(
      call(shop.listSagas, shop, {
        status: 0,
        sagaType: "",
        labels: {},
        pageSize: 10,
        pageToken: "",
        namespace: "default",
      }),
    );
    expect(otherTenant.code).toBe(status.PERMISSION_DENIED);
    expect(otherTenant.details).toContain("token:shop");
    const cancelOthers = await failure(
      call(shop.cancelSaga, shop, { sagaId: probeSagaId, namespace: "billing", reason: "" }),
    );
    expect(cancelOthers.code).toBe(status.PERMISSION_DENIED);
  });

  it("refuses steps aimed at the node's own port, etcd, loopback, ssh and thousands of dead addresses", async () => {
    const targets = [node.address, "127.0.0.1:2379", "[::1]:50051", "127.0.0.1:22"];
    for (let i = 0; i < 200; i++) targets.push(`10.${i >> 8}.${i & 255}.9:${1024 + i}`);
    const refusals = await whileProbing(() =>
      Promise.all(targets.map((t) => failure(start(shop, { steps: [step("ok", t)] })))),
    );
    for (const err of refusals) {
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(err.details).toContain("is not a registered participant (one of payments)");
    }
  });

  /** StartSaga with a body made byte by byte (what the generated client would never encode), as the shop client. */
  function rawStartSaga(body: Uint8Array): Promise<ServiceError | null> {
    const raw = new Client(node.address, credentials.createInsecure());
    const metadata = new Metadata();
    metadata.set("authorization", `Bearer ${TOKENS.shop}`);
    return new Promise<ServiceError | null>((resolve) =>
      raw.makeUnaryRequest(
        "/saga.v1.CoordinatorService/StartSaga",
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from(body),
        metadata,
        { deadline: Date.now() + 30_000 },
        (e) => resolve(e as ServiceError | null),
      ),
    ).finally(() => raw.close());
  }

  it("refuses 2M empty steps (3.8 MiB) before mapping them", async () => {
    const head = StartSagaRequest.encode({
      sagaId: "",
      namespace: "shop",
      sagaType: "attack",
      labels: {},
      steps: [],
    }).finish();
    // Field 3 (steps), an empty StepDefinition, two million times.
    const emptySteps = Buffer.alloc(2 * 2_000_000);
    for (let i = 0; i < emptySteps.length; i += 2) emptySteps[i] = 26;
    const err = await whileProbing(() => rawStartSaga(Buffer.concat([head, emptySteps])));
    expect(err?.code).toBe(status.INVALID_ARGUMENT);
    expect(err?.details).toBe("steps: 2000000 steps given; at most 100 steps per saga are allowed");
  });

  it("refuses 99 parallel steps x 1000 attempts x 1 ms backoff", async () => {
    const retry = {
      maxAttempts: 1000,
      initialBackoff: { seconds: 0, nanos: 1_000_000 },
      maxBackoff: { seconds: 0, nanos: 1_000_000 },
      multiplier: 1,
      jitter: 0,
    };
    const steps = Array.from({ length: 99 }, (_, i) => step(`ok${i}`, "payments", { retry }));
    const err = await whileProbing(() => failure(start(shop, { steps })));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/initial_backoff: 1ms is out of range; allowed 10ms|at most 10000 per saga/);
  });

  it("refuses a deadline of seconds=9e15 instead of storing a saga no read can answer", async () => {
    const body = StartSagaRequest.encode({
      sagaId: "far-deadline",
      namespace: "shop",
      sagaType: "attack",
      labels: {},
      steps: [step("ok", "payments")],
    }).finish();
    // Field 4 (deadline), a Timestamp of seconds = 9e15: beyond any Date.
    const deadline = new BinaryWriter().uint32(34).fork().uint32(8).int64(9e15).join().finish();
    const err = await whileProbing(() => rawStartSaga(Buffer.concat([body, deadline])));
    expect(err?.code).toBe(status.INVALID_ARGUMENT);
    expect(err?.details).toContain("deadline: is not a time this coordinator can keep");
  });

  it("ends a saga whose participant answers 3 MiB instead of storing it or retrying forever", async () => {
    const res = await start(shop, {
      steps: [step("ok", "payments"), step("big", "payments", { dependsOn: ["ok"] })],
    });
    const sagaId = res.saga?.sagaId ?? "";
    let saga: Saga | undefined;
    for (;;) {
      saga = (await call(shop.getSaga, shop, { sagaId, namespace: "shop", includeHistory: false })).saga;
      if (
        saga &&
        saga.status !== SagaStatus.SAGA_STATUS_RUNNING &&
        saga.status !== SagaStatus.SAGA_STATUS_COMPENSATING
      )
        break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(saga?.status).toBe(SagaStatus.SAGA_STATUS_COMPENSATED);
    expect(saga?.steps.find((s) => s.definition?.name === "big")?.lastError).toMatch(/output|larger|limit/i);
    await probe();
  });

  it("answers ListSagas page_size=1000 over large payloads with bounded pages, five at once", async () => {
    const payload = Buffer.alloc(900 * 1024, 1);
    for (let i = 0; i < 12; i++) {
      await start(shop, { steps: [{ ...step("ok", "payments"), payload }] });
    }
    const list = (includePayloads: boolean) =>
      call(shop.listSagas, shop, {
        status: 0,
        sagaType: "attack",
        labels: {},
        pageSize: 1000,
        pageToken: "",
        namespace: "shop",
        includePayloads,
      });
    const pages = await whileProbing(() =>
      Promise.all([list(true), list(true), list(true), list(true), list(false)]),
    );
    for (const page of pages.slice(0, 4)) {
      const bytes = page.sagas.reduce(
        (n, s) => n + s.steps.reduce((m, st) => m + (st.definition?.payload.length ?? 0), 0),
        0,
      );
      expect(bytes).toBeLessThanOrEqual(3 * 1024 * 1024);
      expect(page.nextPageToken).not.toBe("");
    }
    const summaries = pages[4];
    expect(summaries?.sagas.length).toBeGreaterThanOrEqual(12);
    expect(
      summaries?.sagas.every((s) => s.steps.every((st) => (st.definition?.payload.length ?? 0) === 0)),
    ).toBe(true);
  });

  it("caps open WatchSaga streams per caller, naming the limit, and keeps answering", async () => {
    const saga = await start(shop, { steps: [step("hold", "payments")] });
    const sagaId = saga.saga?.sagaId ?? "";
    const streams: ClientReadableStream<WatchSagaResponse>[] = [];
    const outcomes = await whileProbing(() =>
      Promise.all(
        Array.from({ length: 300 }, () => {
          const stream = shop.watchSaga({ sagaId, namespace: "shop", afterSequence: 0 });
          streams.push(stream);
          return new Promise<"open" | ServiceError>((resolve) => {
            stream.once("data", () => resolve("open"));
            stream.on("error", (err: ServiceError) => resolve(err));
          });
        }),
      ),
    );
    const refused = outcomes.filter((o): o is ServiceError => o !== "open");
    expect(outcomes.filter((o) => o === "open")).toHaveLength(50);
    expect(refused).toHaveLength(250);
    for (const err of refused) {
      expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(err.details).toContain("the limit per caller (--max-watch-streams-per-caller)");
    }
    for (const s of streams) s.cancel();
    await probe();
  });

  it("keeps its resident memory bounded through all of the above", () => {
    const pid = node.child.pid as number;
    expect(rssOf(pid)).toBeLessThan(RSS_BOUND_BYTES);
  });

  it("refuses a forged Execute or Compensate sent straight to a participant by anyone but the coordinator", async () => {
    const ca = certs.ca("participants-ca");
    const handled: string[] = [];
    const secure: Participant = await startParticipant({
      listen: "127.0.0.1:0",
      steps: {
        charge: {
          execute: async (ctx) => {
            handled.push(`execute ${ctx.sagaId}`);
            return new Uint8Array();
          },
          compensate: async (ctx) => {
            handled.push(`compensate ${ctx.sagaId}`);
          },
        },
      },
      credentials: tlsServerCredentials({ ...ca.issue("payments"), ca: ca.cert }),
      allowedCallers: ["coordinator"],
      logger: pino({ level: "silent" }),
    });
    try {
      const mallory = new ParticipantServiceClient(
        secure.address,
        tlsChannelCredentials(true, { ...ca.issue("mallory"), ca: ca.cert }),
      );
      const forged = {
        sagaId: "completed-order",
        step: "charge",
        idempotencyKey: "completed-order/charge",
        sagaType: "order",
        contentType: "application/json",
        reason: "",
        attempt: 1,
        payload: Buffer.from("{}"),
        executeOutput: Buffer.alloc(0),
      };
      const compensate = await failure(call(mallory.compensate, mallory, forged));
      const execute = await failure(call(mallory.execute, mallory, { ...forged, dependencyOutputs: {} }));
      mallory.close();
      for (const err of [compensate, execute]) {
        expect(err.code).toBe(status.PERMISSION_DENIED);
        expect(err.details).toContain("mallory");
      }
      expect(handled).toEqual([]);
    } finally {
      await secure.shutdown();
    }
  });

  it("never prints an etcd password given in --etcd-endpoints", async () => {
    const closedPort = await freePort();
    const secret = "S3cretEtcdPassw0rd";
    const proc = spawnTracked(process.execPath, [
      MAIN,
      "start",
      "--listen",
      `127.0.0.1:${await freePort()}`,
      "--mongodb-uri",
      inject("mongoUri"),
      "--etcd-endpoints",
      `http://root:${secret}@127.0.0.1:${closedPort}`,
      "--log-level",
      "debug",
    ]);
    // Wait until it has reported trouble reaching etcd (or given up), then look at everything it printed.
    await new Promise<void>((resolve) => {
      const check = () => {
        if (/etcd/i.test(proc.output()) && /"level":(40|50)/.test(proc.output())) resolve();
      };
      proc.child.stdout?.on("data", check);
      proc.child.stderr?.on("data", check);
      proc.child.once("exit", () => resolve());
    });
    await proc.kill("SIGKILL");
    expect(proc.output()).toMatch(/etcd/i);
    expect(proc.output()).not.toContain(secret);
  });

  it("drains within --drain-timeout-ms on SIGTERM although participant calls are still running", async () => {
    const port = await freePort();
    const calls = 50;
    const holding = latch();
    const release = latch();
    let inFlight = 0;
    const slow = await startRecordingParticipant({
      hold: {
        execute: async () => {
          if (++inFlight === calls) holding.open();
          await release.opened;
          return undefined;
        },
      },
    });
    // biome-ignore format: one flag and its value per line
    const draining = await startCoordinatorProcess([
      "start", "--allow-direct-participant-addresses", "--listen", `127.0.0.1:${port}`,
      "--mongodb-uri", inject("mongoUri"), "--mongodb-database", `drain_${randomUUID().slice(0, 8)}`,
      "--drain-timeout-ms", "1000",
    ]);
    try {
      for (let i = 0; i < calls; i++) {
        await call(draining.client.startSaga, draining.client, {
          sagaId: `hold-${i}`,
          sagaType: "hold",
          labels: {},
          steps: [step("hold", slow.address, { kind: StepKind.STEP_KIND_COMPENSATABLE })],
        });
      }
      await holding.opened;
      const exited = new Promise<number | null>((resolve) =>
        draining.child.once("exit", (code) => resolve(code)),
      );
      draining.child.kill("SIGTERM");
      // The calls are never answered: the node must give them up at its drain timeout and exit on its own.
      expect(await exited).toBe(0);
      expect(draining.output()).toContain('"msg":"draining"');
    } finally {
      release.open();
      await draining.kill("SIGKILL");
      await slow.stop();
    }
  });
});
