import { type ServiceError, status } from "@grpc/grpc-js";
import {
  SagaEventType,
  SagaStatus,
  type StartSagaRequest,
  StepKind,
  type WatchSagaResponse,
} from "@saga-coordinator/proto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type Harness, startHarness, step } from "../support/coordinator-harness.js";
import { call, callError } from "../support/grpc-call.js";
import { latch } from "../support/latch.js";
import { type RecordingParticipant, startRecordingParticipant } from "../support/recording-participant.js";

describe("CoordinatorService API", () => {
  let h: Harness;
  let p: RecordingParticipant;
  beforeAll(async () => {
    h = await startHarness({ mongoUri: inject("mongoUri") });
    p = await startRecordingParticipant({ a: {}, b: {}, c: {} });
  });
  afterAll(async () => {
    await h.close();
    await p.stop();
  });

  const base = (): StartSagaRequest => ({
    sagaId: "",
    sagaType: "t",
    steps: [step("a", p.address)],
    labels: {},
  });
  const dur = (seconds: number, nanos = 0) => ({ seconds, nanos });

  // [case, request change, status, message fragment]
  const malformed: [string, () => Partial<StartSagaRequest>, status, string][] = [
    [
      "bad saga id",
      () => ({ sagaId: "has space" }),
      status.INVALID_ARGUMENT,
      'saga_id: "has space" is not valid',
    ],
    ["long saga id", () => ({ sagaId: "x".repeat(129) }), status.INVALID_ARGUMENT, "1..128 characters"],
    ["missing saga type", () => ({ sagaType: "" }), status.INVALID_ARGUMENT, "saga_type"],
    ["no steps", () => ({ steps: [] }), status.INVALID_ARGUMENT, "at least one step"],
    [
      "empty step name",
      () => ({ steps: [step("", p.address)] }),
      status.INVALID_ARGUMENT,
      "steps[0].name: is empty",
    ],
    [
      "duplicate step names",
      () => ({ steps: [step("a", p.address), step("a", p.address)] }),
      status.INVALID_ARGUMENT,
      'duplicate step name "a"',
    ],
    [
      "missing participant",
      () => ({ steps: [step("a", "")] }),
      status.INVALID_ARGUMENT,
      "steps[0].participant: is empty",
    ],
    [
      "unknown participant name",
      () => ({ steps: [step("a", "billing")] }),
      status.INVALID_ARGUMENT,
      "neither a host:port address nor a registered participant name",
    ],
    [
      "unknown depends_on",
      () => ({ steps: [step("a", p.address, { dependsOn: ["zzz"] })] }),
      status.INVALID_ARGUMENT,
      'unknown step "zzz"',
    ],
    [
      "cyclic depends_on",
      () => ({
        steps: [step("a", p.address, { dependsOn: ["b"] }), step("b", p.address, { dependsOn: ["a"] })],
      }),
      status.INVALID_ARGUMENT,
      "cycle",
    ],
    [
      "compensatable after pivot",
      () => ({ steps: [step("a", p.address, { kind: StepKind.STEP_KIND_PIVOT }), step("b", p.address)] }),
      status.INVALID_ARGUMENT,
      "is not before pivot",
    ],
    [
      "negative timeout",
      () => ({ steps: [step("a", p.address, { timeout: dur(-1) })] }),
      status.INVALID_ARGUMENT,
      "steps[0].timeout: -1000ms",
    ],
    [
      "timeout nanos out of range",
      () => ({ steps: [step("a", p.address, { timeout: dur(1, 2_000_000_000) })] }),
      status.INVALID_ARGUMENT,
      "steps[0].timeout: nanos 2000000000 is out of range; allowed -999999999..999999999",
    ],
    [
      "backoff nanos with the wrong sign",
      () => ({
        steps: [
          step("a", p.address, {
            retry: {
              maxAttempts: 2,
              initialBackoff: dur(1, -5),
              maxBackoff: dur(2),
              multiplier: 2,
              jitter: 0,
            },
          }),
        ],
      }),
      status.INVALID_ARGUMENT,
      "steps[0].retry.initial_backoff: nanos -5 is out of range",
    ],
    [
      "negative backoff",
      () => ({
        steps: [
          step("a", p.address, {
            retry: { maxAttempts: 2, initialBackoff: dur(-2), maxBackoff: dur(1), multiplier: 2, jitter: 0 },
          }),
        ],
      }),
      status.INVALID_ARGUMENT,
      "initial_backoff",
    ],
    [
      "too many steps",
      () => ({ steps: Array.from({ length: 101 }, (_, i) => step(`s${i}`, p.address)) }),
      status.INVALID_ARGUMENT,
      "at most 100 steps",
    ],
    [
      "payload too large",
      () => ({ steps: [step("a", p.address, { payload: Buffer.alloc(1024 * 1024 + 1) })] }),
      status.INVALID_ARGUMENT,
      "at most 1048576 bytes",
    ],
    [
      "too many labels",
      () => ({ labels: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, "v"])) }),
      status.INVALID_ARGUMENT,
      "at most 16",
    ],
    [
      "past deadline",
      () => ({ deadline: new Date(Date.now() - 1000) }),
      status.INVALID_ARGUMENT,
      "deadline: is in the past",
    ],
    [
      "unknown step kind",
      () => ({ steps: [step("a", p.address, { kind: 42 as StepKind })] }),
      status.INVALID_ARGUMENT,
      "steps[0].kind: unknown value 42",
    ],
    [
      "bad max attempts",
      () => ({ steps: [step("a", p.address, { retry: { maxAttempts: 5000, multiplier: 0, jitter: 0 } })] }),
      status.INVALID_ARGUMENT,
      "allowed 1..1000",
    ],
  ];

  it.each(malformed)("StartSaga rejects: %s", async (_name, change, code, fragment) => {
    const req = { ...base(), ...change() };
    const err = await callError(h.client.startSaga, h.client, req);
    expect(err.code).toBe(code);
    expect(err.details).toContain(fragment);
  });

  it("answers other malformed requests with precise statuses, and keeps serving", async () => {
    const cases: [Promise<ServiceError>, status, string][] = [
      [
        callError(h.client.getSaga, h.client, { sagaId: "", includeHistory: false }),
        status.INVALID_ARGUMENT,
        "saga_id: is required",
      ],
      [
        callError(h.client.getSaga, h.client, { sagaId: "nope", includeHistory: false }),
        status.NOT_FOUND,
        'no saga with id "nope"',
      ],
      [
        callError(h.client.cancelSaga, h.client, { sagaId: "nope", reason: "", overrides: [] }),
        status.NOT_FOUND,
        "no saga",
      ],
      [
        callError(h.client.cancelSaga, h.client, { sagaId: "x", reason: "r".repeat(600) }),
        status.INVALID_ARGUMENT,
        "at most 512",
      ],
      [
        callError(h.client.listSagas, h.client, {
          status: 0,
          sagaType: "",
          labels: {},
          pageSize: 5000,
          pageToken: "",
        }),
        status.INVALID_ARGUMENT,
        "page_size",
      ],
      [
        callError(h.client.listSagas, h.client, {
          status: 0,
          sagaType: "",
          labels: {},
          pageSize: 1,
          pageToken: "garbage!",
        }),
        status.INVALID_ARGUMENT,
        "page_token",
      ],
      [
        callError(h.client.listSagas, h.client, {
          status: 77,
          sagaType: "",
          labels: {},
          pageSize: 1,
          pageToken: "",
        }),
        status.INVALID_ARGUMENT,
        "status: unknown value 77",
      ],
      [
        callError(h.admin.resumeSaga, h.admin, { sagaId: "nope", reason: "", overrides: [] }),
        status.NOT_FOUND,
        "no saga",
      ],
    ];
    for (const [pending, code, fragment] of cases) {
      const err = await pending;
      expect(err.code).toBe(code);
      expect(err.details).toContain(fragment);
    }
    const ok = await call(h.client.startSaga, h.client, base());
    expect(ok.created).toBe(true);
  });

  it("refuses to resume a saga that is not FAILED", async () => {
    const saga = await h.start({ steps: [step("a", p.address)] });
    await h.waitFor(saga.sagaId);
    const err = await callError(h.admin.resumeSaga, h.admin, {
      sagaId: saga.sagaId,
      reason: "",
      overrides: [],
    });
    expect(err.code).toBe(status.FAILED_PRECONDITION);
    expect(err.details).toContain("only a FAILED saga can be resumed");
  });

  it("lists with filters and stable page tokens", async () => {
    const label = `run-${Date.now()}`;
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const saga = await h.start({
        sagaType: i % 2 ? "odd" : "even",
        labels: { run: label },
        steps: [step("a", p.address)],
      });
      ids.push(saga.sagaId);
    }
    const seen: string[] = [];
    let token = "";
    do {
      const page = await call(h.client.listSagas, h.client, {
        status: 0,
        sagaType: "",
        labels: { run: label },
        pageSize: 3,
        pageToken: token,
      });
      seen.push(...page.sagas.map((s) => s.sagaId));
      token = page.nextPageToken;
      // A saga created mid-listing must not shift later pages.
      if (seen.length === 3) await h.start({ labels: { run: label }, steps: [step("a", p.address)] });
    } while (token);
    expect(seen).toHaveLength(7);
    expect(new Set(seen)).toEqual(new Set(ids));
    const odd = await call(h.client.listSagas, h.client, {
      status: 0,
      sagaType: "odd",
      labels: { run: label },
      pageSize: 0,
      pageToken: "",
    });
    expect(odd.sagas).toHaveLength(3);
    const first = await call(h.client.listSagas, h.client, {
      status: 0,
      sagaType: "",
      labels: { run: label },
      pageSize: 2,
      pageToken: "",
    });
    const mismatch = await callError(h.client.listSagas, h.client, {
      status: 0,
      sagaType: "odd",
      labels: { run: label },
      pageSize: 2,
      pageToken: first.nextPageToken,
    });
    expect(mismatch.details).toContain("different filters");
    for (const id of ids) await h.waitFor(id);
    const completed = await call(h.client.listSagas, h.client, {
      status: SagaStatus.SAGA_STATUS_COMPLETED,
      sagaType: "",
      labels: { run: label },
      pageSize: 100,
      pageToken: "",
    });
    expect(completed.sagas.length).toBeGreaterThanOrEqual(7);
  });

  it("bounds a ListSagas page in bytes, so big sagas come a few per page and none is lost", async () => {
    const label = `big-${Date.now()}`;
    const payload = Buffer.alloc(900 * 1024, "x");
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      const saga = await h.start({ labels: { run: label }, steps: [step("a", p.address, { payload })] });
      ids.push(saga.sagaId);
    }
    const pages: number[] = [];
    const seen: string[] = [];
    let token = "";
    do {
      const page = await call(h.client.listSagas, h.client, {
        status: 0,
        sagaType: "",
        labels: { run: label },
        pageSize: 1000,
        pageToken: token,
        includePayloads: true,
      });
      pages.push(page.sagas.length);
      seen.push(...page.sagas.map((s) => s.sagaId));
      token = page.nextPageToken;
    } while (token);
    // 3 MiB a page: three sagas of 900 KiB each.
    expect(Math.max(...pages)).toBeLessThanOrEqual(3);
    expect(seen.sort()).toEqual([...ids].sort());
    // By default a listing is summaries: no payloads or outputs, so the eight fit one page.
    const summaries = await call(h.client.listSagas, h.client, {
      status: 0,
      sagaType: "",
      labels: { run: label },
      pageSize: 1000,
      pageToken: "",
    });
    expect(summaries.sagas).toHaveLength(8);
    expect(summaries.nextPageToken).toBe("");
    for (const saga of summaries.sagas) {
      expect(saga.steps[0]?.definition?.payload.length).toBe(0);
      expect(saga.steps[0]?.definition?.name).toBe("a");
    }
  });

  it("WatchSaga replays history, then streams live events to the end", async () => {
    const gate = latch();
    const entered = latch();
    const slow = await startRecordingParticipant({
      wait: {
        execute: async () => {
          entered.open();
          await gate.opened;
          return undefined;
        },
      },
    });
    const saga = await h.start({ steps: [step("a", p.address), step("wait", slow.address)] });
    // "wait" is dispatched only after its STEP_DISPATCHED event is stored: history to replay.
    await entered.opened;
    const events: NonNullable<WatchSagaResponse["event"]>[] = [];
    const withSaga: WatchSagaResponse[] = [];
    const replayed = latch();
    const stream = h.client.watchSaga({ sagaId: saga.sagaId, afterSequence: 0 });
    const finished = (async () => {
      for await (const m of stream as AsyncIterable<WatchSagaResponse>) {
        if (!m.event) continue;
        events.push(m.event);
        if (m.saga) withSaga.push(m);
        if (m.event.type === SagaEventType.SAGA_EVENT_TYPE_STEP_DISPATCHED && m.event.step === "wait") {
          replayed.open();
        }
      }
    })();
    await replayed.opened;
    const beforeRelease = events.length;
    expect(events.map((e) => e.type)).toEqual([
      SagaEventType.SAGA_EVENT_TYPE_SAGA_STARTED,
      SagaEventType.SAGA_EVENT_TYPE_STEP_DISPATCHED,
      SagaEventType.SAGA_EVENT_TYPE_STEP_SUCCEEDED,
      SagaEventType.SAGA_EVENT_TYPE_STEP_DISPATCHED,
    ]);
    gate.open();
    await finished;
    expect(events.length).toBeGreaterThan(beforeRelease);
    expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => i + 1));
    expect(events[0]?.type).toBe(SagaEventType.SAGA_EVENT_TYPE_SAGA_STARTED);
    const last = events.at(-1);
    expect(last?.type).toBe(SagaEventType.SAGA_EVENT_TYPE_STATUS_CHANGED);
    expect(last?.status).toBe(SagaStatus.SAGA_STATUS_COMPLETED);
    const got = await call(h.client.getSaga, h.client, { sagaId: saga.sagaId, includeHistory: true });
    expect(got.history.map((e) => e.sequence)).toEqual(events.map((e) => e.sequence));
    // Only the message that ends the saga carries it, as GetSaga shows it afterwards.
    expect(withSaga.map((m) => m.event?.sequence)).toEqual([last?.sequence]);
    expect(withSaga[0]?.saga).toEqual(got.saga);
    await slow.stop();
  });

  it("WatchSaga of an unknown saga is NOT_FOUND", async () => {
    const stream = h.client.watchSaga({ sagaId: "missing", afterSequence: 0 });
    const err = await new Promise<ServiceError>((resolve) => {
      stream.on("error", resolve);
      stream.on("data", () => {});
    });
    expect(err.code).toBe(status.NOT_FOUND);
  });
});
