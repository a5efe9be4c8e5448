import { status } from "@grpc/grpc-js";
import { BusinessFailure } from "@saga-coordinator/participant-sdk";
import {
  type SagaEvent,
  SagaEventType,
  SagaStatus,
  StepKind,
  StepStatus,
  type WatchSagaResponse,
} from "@saga-coordinator/proto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { fastRetry, type Harness, startHarness, step } from "../support/coordinator-harness.js";
import { freePort } from "../support/free-port.js";
import { call } from "../support/grpc-call.js";
import { latch } from "../support/latch.js";
import { type RecordingParticipant, startRecordingParticipant } from "../support/recording-participant.js";

// The engine on one node, on the real MongoDB-wire server, against real
// participant gRPC servers built on the SDK. Events are ordered with latches
// and the saga's own WatchSaga stream, never with sleeps.

/** Resolves with the first event of the saga (history, then live) that matches; then stops watching. */
async function firstEvent(
  h: Harness,
  sagaId: string,
  matches: (e: SagaEvent) => boolean,
): Promise<SagaEvent> {
  const stream = h.client.watchSaga({ sagaId, afterSequence: 0 });
  try {
    for await (const m of stream as AsyncIterable<WatchSagaResponse>) {
      if (m.event && matches(m.event)) return m.event;
    }
  } finally {
    stream.cancel();
  }
  throw new Error(`saga ${sagaId} ended without the awaited event`);
}

const isStatus = (status: SagaStatus) => (e: SagaEvent) =>
  e.type === SagaEventType.SAGA_EVENT_TYPE_STATUS_CHANGED && e.status === status;

describe("saga engine on MongoDB", () => {
  let h: Harness;
  const participants: RecordingParticipant[] = [];
  const track = (p: RecordingParticipant) => {
    participants.push(p);
    return p;
  };

  beforeAll(async () => {
    h = await startHarness({ mongoUri: inject("mongoUri") });
  });
  afterAll(async () => {
    await h.close();
    for (const p of participants) await p.stop();
  });

  it("completes a 3-step saga, passing outputs along", async () => {
    const seen: Record<string, string> = {};
    const p = track(
      await startRecordingParticipant({
        a: {},
        b: {
          execute: async (ctx) => {
            seen.b = Buffer.from(ctx.dependencyOutputs.a ?? []).toString();
            return undefined;
          },
        },
        c: {},
      }),
    );
    const saga = await h.start({ steps: [step("a", p.address), step("b", p.address), step("c", p.address)] });
    const done = await h.waitFor(saga.sagaId);
    expect(done.status).toBe(SagaStatus.SAGA_STATUS_COMPLETED);
    expect(done.steps.map((s) => s.status)).toEqual(Array(3).fill(StepStatus.STEP_STATUS_SUCCEEDED));
    expect(Buffer.from(done.steps[2]?.output ?? []).toString()).toBe(`out:c:${saga.sagaId}`);
    expect(seen.b).toBe(`out:a:${saga.sagaId}`);
    expect(p.calls.map((c) => c.step)).toEqual(["a", "b", "c"]);
  });

  it("compensates steps 2 and 1, in that order and with their outputs, after a business failure at step 3", async () => {
    const p = track(
      await startRecordingParticipant({
        one: {},
        two: {},
        three: {
          execute: async () => {
            throw new BusinessFailure("out of stock");
          },
        },
      }),
    );
    const saga = await h.start({
      steps: [step("one", p.address), step("two", p.address), step("three", p.address)],
    });
    const done = await h.waitFor(saga.sagaId);
    expect(done.status).toBe(SagaStatus.SAGA_STATUS_COMPENSATED);
    expect(done.reason).toContain("out of stock");
    const compensations = p.calls.filter((c) => c.phase === "compensate");
    expect(compensations.map((c) => [c.step, c.executeOutput])).toEqual([
      ["two", `out:two:${saga.sagaId}`],
      ["one", `out:one:${saga.sagaId}`],
    ]);
    expect(done.steps.map((s) => s.status)).toEqual([
      StepStatus.STEP_STATUS_COMPENSATED,
      StepStatus.STEP_STATUS_COMPENSATED,
      StepStatus.STEP_STATUS_FAILED,
    ]);
  });

  it("retries a participant that is down and completes once it is back", async () => {
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    const retry = { ...fastRetry(100), maxBackoff: { seconds: 0, nanos: 100_000_000 } };
    const saga = await h.start({ steps: [step("later", address, { retry })] });
    // Two failed attempts: the step keeps being retried while nobody listens there.
    await firstEvent(
      h,
      saga.sagaId,
      (e) => e.type === SagaEventType.SAGA_EVENT_TYPE_STEP_RETRY_SCHEDULED && e.attempt === 2,
    );
    const waiting = await h.get(saga.sagaId);
    expect(waiting.status).toBe(SagaStatus.SAGA_STATUS_RUNNING);
    expect(waiting.steps[0]?.attempts).toBeGreaterThan(1);
    expect(waiting.steps[0]?.lastError).toContain("UNAVAILABLE");
    const p = track(await startRecordingParticipant({ later: {} }, address));
    const done = await h.waitFor(saga.sagaId);
    expect(done.status).toBe(SagaStatus.SAGA_STATUS_COMPLETED);
    expect(p.effects.get(`${saga.sagaId}/later/execute`)).toBe(1);
  });

  it("compensates a step that timed out (its outcome is unknown)", async () => {
    const gate = latch();
    const p = track(
      await startRecordingParticipant({
        first: {},
        slow: { execute: async () => void (await gate.opened) },
      }),
    );
    const saga = await h.start({
      steps: [
        step("first", p.address),
        step("slow", p.address, { timeout: { seconds: 0, nanos: 100_000_000 }, retry: fastRetry(1) }),
      ],
    });
    // The slow Execute finishes only once the coordinator has given up on it and compensates it.
    await firstEvent(
      h,
      saga.sagaId,
      (e) => e.type === SagaEventType.SAGA_EVENT_TYPE_COMPENSATION_DISPATCHED && e.step === "slow",
    );
    gate.open();
    const done = await h.waitFor(saga.sagaId);
    expect(done.status).toBe(SagaStatus.SAGA_STATUS_COMPENSATED);
    expect(done.steps[1]?.outcomeUnknown).toBe(true);
    const { history } = await call(h.client.getSaga, h.client, { sagaId: saga.sagaId, includeHistory: true });
    const failed = history.find(
      (e) => e.type === SagaEventType.SAGA_EVENT_TYPE_STEP_FAILED && e.step === "slow",
    );
    expect(failed?.detail).toContain("DEADLINE_EXCEEDED");
    // The participant finished the slow execute after the deadline; the barrier made Compensate wait for it.
    const compensated = p.calls.filter((c) => c.phase === "compensate").map((c) => c.step);
    expect(compensated).toEqual(["slow", "first"]);
  });

  it("runs independent DAG steps concurrently", async () => {
    // Each branch finishes only once both have started: run one after the other, they would never finish.
    let entered = 0;
    const bothEntered = latch();
    const hold = {
      execute: async () => {
        if (++entered === 2) bothEntered.open();
        await bothEntered.opened;
        return undefined;
      },
    };
    const p = track(await startRecordingParticipant({ root: {}, left: hold, right: hold, join: {} }));
    const saga = await h.start({
      steps: [
        step("root", p.address, { dependsOn: [] }),
        step("left", p.address, { dependsOn: ["root"] }),
        step("right", p.address, { dependsOn: ["root"] }),
        step("join", p.address, { dependsOn: ["left", "right"] }),
      ],
    });
    const done = await h.waitFor(saga.sagaId);
    expect(done.status).toBe(SagaStatus.SAGA_STATUS_COMPLETED);
    const byStep = Object.fromEntries(p.calls.map((c) => [c.step, c]));
    const left = byStep.left;
    const right = byStep.right;
    expect(left && right).toBeTruthy();
    if (!left || !right) return;
    // Observed overlap: each started before the other ended; the join started after both ended.
    expect(left.started).toBeLessThan(right.ended);
    expect(right.started).toBeLessThan(left.ended);
    expect(byStep.join?.started).toBeGreaterThan(Math.max(left.ended, right.ended));
  });

  it("ends in FAILED when a compensation keeps failing, and Admin resume finishes it", async () => {
    let refundWorks = false;
    const p = track(
      await startRecordingParticipant({
        charge: {
          compensate: async () => {
            if (!refundWorks) throw new Error("refund service down");
          },
        },
        ship: {
          execute: async () => {
            throw new BusinessFailure("no address");
          },
        },
      }),
    );
    const saga = await h.start({
      steps: [step("charge", p.address, { compensateRetry: fastRetry(3) }), step("ship", p.address)],
    });
    const failed = await h.waitFor(saga.sagaId, SagaStatus.SAGA_STATUS_FAILED);
    expect(failed.reason).toContain("compensation of charge failed after 3 attempts");
    expect(failed.steps[0]?.compensateAttempts).toBe(3);
    refundWorks = true;
    const resumed = await call(h.admin.resumeSaga, h.admin, {
      sagaId: saga.sagaId,
      reason: "refund service fixed",
      overrides: [],
    });
    expect(resumed.saga?.status).toBe(SagaStatus.SAGA_STATUS_COMPENSATING);
    const done = await h.waitFor(saga.sagaId);
    expect(done.status).toBe(SagaStatus.SAGA_STATUS_COMPENSATED);
    expect(p.effects.get(`${saga.sagaId}/charge/compensate`)).toBe(1);
  });

  it("runs a pivot saga forward: retriable steps after the pivot are retried until they succeed", async () => {
    let failures = 0;
    const p = track(
      await startRecordingParticipant({
        reserve: {},
        ship: {},
        notify: {
          execute: async () => {
            if (failures++ < 4) throw new Error("mail server busy");
            return undefined;
          },
        },
      }),
    );
    const saga = await h.start({
      steps: [
        step("reserve", p.address),
        step("ship", p.address, { kind: StepKind.STEP_KIND_PIVOT }),
        step("notify", p.address, { kind: StepKind.STEP_KIND_RETRIABLE, retry: fastRetry(2) }),
      ],
    });
    const done = await h.waitFor(saga.sagaId);
    expect(done.status).toBe(SagaStatus.SAGA_STATUS_COMPLETED);
    expect(done.steps[2]?.attempts).toBe(5);
  });

  it("is idempotent on saga_id and refuses the same id with another definition", async () => {
    const p = track(await startRecordingParticipant({ x: {} }));
    const req = { sagaId: `idem-${Date.now()}`, sagaType: "t", steps: [step("x", p.address)], labels: {} };
    const first = await call(h.client.startSaga, h.client, req);
    const again = await call(h.client.startSaga, h.client, req);
    expect(first.created).toBe(true);
    expect(again.created).toBe(false);
    expect(again.saga?.sagaId).toBe(req.sagaId);
    const other = { ...req, steps: [step("x", p.address, { payload: Buffer.from("different") })] };
    await expect(call(h.client.startSaga, h.client, other)).rejects.toMatchObject({
      code: status.ALREADY_EXISTS,
    });
    await h.waitFor(req.sagaId);
    expect(p.effects.get(`${req.sagaId}/x/execute`)).toBe(1);
  });

  it("cancels before the pivot and refuses after it", async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const p = track(
      await startRecordingParticipant({
        hold: { execute: async () => void (await gate) },
        pivot: {},
        after: {},
      }),
    );
    const cancellable = await h.start({ steps: [step("hold", p.address), step("pivot", p.address)] });
    await h.waitFor(cancellable.sagaId, SagaStatus.SAGA_STATUS_RUNNING);
    const cancelled = await call(h.client.cancelSaga, h.client, {
      sagaId: cancellable.sagaId,
      reason: "customer changed mind",
    });
    expect(cancelled.saga?.status).toBe(SagaStatus.SAGA_STATUS_COMPENSATING);
    release();
    const done = await h.waitFor(cancellable.sagaId);
    expect(done.status).toBe(SagaStatus.SAGA_STATUS_COMPENSATED);
    expect(done.reason).toContain("customer changed mind");
    expect(p.effects.get(`${cancellable.sagaId}/hold/compensate`)).toBe(1);

    const forward = await h.start({
      steps: [
        step("pivot", p.address, { kind: StepKind.STEP_KIND_PIVOT }),
        step("after", p.address, { kind: StepKind.STEP_KIND_RETRIABLE }),
      ],
    });
    await h.waitFor(forward.sagaId);
    await expect(
      call(h.client.cancelSaga, h.client, { sagaId: forward.sagaId, reason: "" }),
    ).rejects.toMatchObject({
      code: status.FAILED_PRECONDITION,
    });
  });

  it("compensates when the saga deadline passes", async () => {
    const gate = latch();
    const p = track(
      await startRecordingParticipant({
        quick: {},
        stuck: { execute: async () => void (await gate.opened) },
      }),
    );
    const saga = await h.start({
      deadline: new Date(Date.now() + 1_500),
      steps: [step("quick", p.address), step("stuck", p.address, { timeout: { seconds: 60, nanos: 0 } })],
    });
    // "stuck" answers only after the deadline has started the compensation.
    await firstEvent(h, saga.sagaId, isStatus(SagaStatus.SAGA_STATUS_COMPENSATING));
    gate.open();
    const done = await h.waitFor(saga.sagaId);
    expect(done.status).toBe(SagaStatus.SAGA_STATUS_COMPENSATED);
    expect(done.reason).toBe("deadline exceeded");
    expect(p.effects.get(`${saga.sagaId}/quick/compensate`)).toBe(1);
  });
});
