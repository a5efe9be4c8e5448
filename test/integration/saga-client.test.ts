import { status } from "@grpc/grpc-js";
import { SagaClient, SagaClientError, saga } from "@saga-coordinator/participant-sdk";
import { type SagaEvent, SagaEventType, SagaStatus, StepKind } from "@saga-coordinator/proto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeCoordinator } from "../support/fake-coordinator.js";
import { Counter } from "../support/latch.js";

let fake: FakeCoordinator;
let client: SagaClient;
beforeEach(async () => {
  fake = await new FakeCoordinator().start();
  client = new SagaClient({ address: fake.address, retry: { initialDelayMs: 10, maxDelayMs: 50 } });
});
afterEach(async () => {
  client.close();
  await fake.stop();
});

async function caught(promise: Promise<unknown>): Promise<SagaClientError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(SagaClientError);
    return err as SagaClientError;
  }
  throw new Error("expected the call to fail");
}

const order = (id: string) =>
  saga("order-checkout")
    .id(id)
    .label("tenant", "acme")
    .step("reserve", "inventory", { json: { sku: "A1" } })
    .pivot("charge", "payments", { json: { amount: 4200 } })
    .retriable("ship", "shipping");

describe("SagaClient against a fake coordinator", () => {
  it("starts a saga from a builder, idempotently on its id", async () => {
    const first = await client.start(order("o-1"));
    expect(first.created).toBe(true);
    expect(first.saga).toMatchObject({
      sagaId: "o-1",
      sagaType: "order-checkout",
      status: SagaStatus.SAGA_STATUS_RUNNING,
    });
    const received = fake.startRequests[0];
    expect(received?.labels).toEqual({ tenant: "acme" });
    expect(received?.steps.map((s) => [s.name, s.participant, s.kind])).toEqual([
      ["reserve", "inventory", StepKind.STEP_KIND_COMPENSATABLE],
      ["charge", "payments", StepKind.STEP_KIND_PIVOT],
      ["ship", "shipping", StepKind.STEP_KIND_RETRIABLE],
    ]);
    expect(received?.steps[0]?.payload.toString()).toBe('{"sku":"A1"}');
    const again = await client.start(order("o-1"));
    expect(again.created).toBe(false);
  });

  it("retries UNAVAILABLE with the same saga id, so the saga is created once", async () => {
    fake.failNext("StartSaga", status.UNAVAILABLE, 2);
    const result = await client.start(saga("t").step("a", "p"));
    expect(result.created).toBe(true);
    expect(fake.calls.StartSaga).toBe(3);
    const ids = new Set(fake.startRequests.map((r) => r.sagaId));
    expect(ids).toEqual(new Set([result.saga.sagaId]));
  });

  it("gives up after maxAttempts and surfaces the last UNAVAILABLE", async () => {
    const limited = new SagaClient({ address: fake.address, retry: { maxAttempts: 3, initialDelayMs: 5 } });
    fake.failNext("GetSaga", status.UNAVAILABLE, 10);
    const err = await caught(limited.get("x"));
    expect([err.code, err.method, err.details]).toEqual([status.UNAVAILABLE, "GetSaga", "injected fault"]);
    expect(fake.calls.GetSaga).toBe(3);
    limited.close();
  });

  it("does not retry other errors and carries their code and details", async () => {
    await client.start(order("o-2"));
    const missing = await caught(client.get("nope"));
    expect([missing.code, missing.codeName, missing.details]).toEqual([
      status.NOT_FOUND,
      "NOT_FOUND",
      "no saga nope",
    ]);
    expect(fake.calls.GetSaga).toBe(1);
    const conflict = await caught(client.start(saga("order-checkout").id("o-2").step("other", "p")));
    expect(conflict.code).toBe(status.ALREADY_EXISTS);
    const invalid = await caught(client.start({ sagaId: "x", sagaType: "", steps: [], labels: {} }));
    expect(invalid.code).toBe(status.INVALID_ARGUMENT);
  });

  it("applies a deadline to every call", async () => {
    await client.start(order("o-3"));
    const release = fake.hold("GetSaga"); // only the deadline can end these calls
    const err = await caught(client.get("o-3", { deadlineMs: 100 }));
    expect(err.code).toBe(status.DEADLINE_EXCEEDED);
    const short = new SagaClient({ address: fake.address, deadlineMs: 100, retry: false });
    expect((await caught(short.get("o-3"))).code).toBe(status.DEADLINE_EXCEEDED);
    short.close();
    release();
  });

  it("lists sagas page by page, newest first, with filters", async () => {
    for (let i = 1; i <= 5; i++) await client.start(saga("batch").id(`b-${i}`).step("a", "p"));
    await client.start(saga("other").id("x-1").step("a", "p"));
    const pages: string[][] = [];
    for await (const page of client.list({ sagaType: "batch", pageSize: 2 })) {
      pages.push(page.sagas.map((s) => s.sagaId));
    }
    expect(pages).toEqual([["b-5", "b-4"], ["b-3", "b-2"], ["b-1"]]);
    expect(fake.calls.ListSagas).toBe(3);
    // Stopping early fetches no further page.
    for await (const page of client.list({ pageSize: 1 })) {
      expect(page.sagas[0]?.sagaId).toBe("x-1");
      expect(page.nextPageToken).not.toBe("");
      break;
    }
    expect(fake.calls.ListSagas).toBe(4);
  });

  it("cancels a saga and reads its history", async () => {
    await client.start(order("o-4"));
    const cancelled = await client.cancel("o-4", "customer changed their mind");
    expect(cancelled.status).toBe(SagaStatus.SAGA_STATUS_COMPENSATING);
    const history = await client.history("o-4");
    expect(history.map((e) => e.type)).toEqual([
      SagaEventType.SAGA_EVENT_TYPE_SAGA_STARTED,
      SagaEventType.SAGA_EVENT_TYPE_CANCEL_REQUESTED,
      SagaEventType.SAGA_EVENT_TYPE_STATUS_CHANGED,
    ]);
    fake.setStatus("o-4", SagaStatus.SAGA_STATUS_COMPENSATED);
    expect((await caught(client.cancel("o-4"))).code).toBe(status.FAILED_PRECONDITION);
  });

  it("watches history then live events until the saga is terminal, resuming a broken stream", async () => {
    await client.start(order("o-5"));
    const seen: SagaEvent[] = [];
    const received = new Counter();
    const watching = (async () => {
      for await (const event of client.watch("o-5")) {
        seen.push(event);
        received.bump();
      }
    })();
    await fake.watchesOpened.reached(1);
    fake.stepEvent("o-5", SagaEventType.SAGA_EVENT_TYPE_STEP_DISPATCHED, "reserve");
    await received.reached(2); // the live event arrived before the stream breaks
    fake.breakWatches();
    await fake.watchesOpened.reached(2); // the client reopened the stream
    fake.stepEvent("o-5", SagaEventType.SAGA_EVENT_TYPE_STEP_SUCCEEDED, "reserve");
    fake.setStatus("o-5", SagaStatus.SAGA_STATUS_COMPLETED);
    await watching;
    // Every event exactly once, in order, across the reconnect.
    expect(seen.map((e) => e.sequence)).toEqual([1, 2, 3, 4]);
    expect(seen.at(-1)?.status).toBe(SagaStatus.SAGA_STATUS_COMPLETED);
    expect(fake.calls.WatchSaga).toBe(2);
  });

  it("cancels the server stream when the caller stops watching early", async () => {
    await client.start(order("o-6"));
    for await (const event of client.watch("o-6")) {
      expect(event.type).toBe(SagaEventType.SAGA_EVENT_TYPE_SAGA_STARTED);
      break;
    }
    await fake.watchesCancelled.reached(1);
    expect(fake.cancelledWatches).toBe(1);
    expect(fake.openWatches()).toBe(0);
  });

  it("surfaces a watch of an unknown saga as NOT_FOUND", async () => {
    const err = await caught(
      (async () => {
        for await (const _ of client.watch("ghost")) {
        }
      })(),
    );
    expect(err.code).toBe(status.NOT_FOUND);
  });

  it("waitFor resolves with the terminal saga, or fails with DEADLINE_EXCEEDED", async () => {
    await client.start(order("o-7"));
    const waiting = client.waitFor("o-7", { timeoutMs: 60_000 });
    await fake.watchesOpened.reached(1); // the status changes below reach it live
    fake.setStatus("o-7", SagaStatus.SAGA_STATUS_COMPENSATING, "step charge failed");
    fake.setStatus("o-7", SagaStatus.SAGA_STATUS_COMPENSATED, "step charge failed");
    const done = await waiting;
    expect(done.status).toBe(SagaStatus.SAGA_STATUS_COMPENSATED);
    expect(done.reason).toBe("step charge failed");
    // Already terminal: answers at once.
    expect((await client.waitFor("o-7", { timeoutMs: 1_000 })).status).toBe(
      SagaStatus.SAGA_STATUS_COMPENSATED,
    );

    await client.start(order("o-8"));
    const err = await caught(client.waitFor("o-8", { timeoutMs: 200 }));
    expect(err.code).toBe(status.DEADLINE_EXCEEDED);
    expect(err.details).toMatch(/o-8 did not reach a terminal status within 200 ms/);
    await fake.noOpenWatches(); // giving up closed its stream
  });
});
