import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { sagaDef, stepDef } from "../engine/test-support.js";
import { MemorySagaStore } from "../store/memory-saga-store.js";
import type { SagaEventRecord, SagaRecord } from "../store/saga-record.js";
import type {
  CallOutcome,
  CompensateCall,
  ExecuteCall,
  ParticipantTransport,
} from "../transport/participant-transport.js";
import { ManualClock } from "./clock.js";
import { NotOwnerError } from "./driver-errors.js";
import type { PartitionOwnership } from "./partition-ownership.js";
import { SagaDriver } from "./saga-driver.js";
import { SagaEventBus } from "./saga-event-bus.js";

// The driver with a fake store, a fake transport and a manual clock: every
// test orders events with explicit signals (a call arriving, a write being
// released), never with time.

/** A promise with its resolver, for latches. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

interface SentCall {
  phase: "execute" | "compensate";
  key: string;
  attempt: number;
  call: ExecuteCall | CompensateCall;
  answer(outcome: CallOutcome): void;
}

/** Holds every call until the test answers it; `next()` waits for the next call to arrive. */
class FakeTransport implements ParticipantTransport {
  readonly sent: SentCall[] = [];
  private waiting: ((call: SentCall) => void)[] = [];
  private seen = 0;

  execute(_address: string, call: ExecuteCall): Promise<CallOutcome> {
    return this.record("execute", call);
  }
  compensate(_address: string, call: CompensateCall): Promise<CallOutcome> {
    return this.record("compensate", call);
  }
  close(): void {}

  /** The next call not yet taken by next(), waiting for it if needed. */
  next(): Promise<SentCall> {
    const already = this.sent[this.seen];
    if (already) {
      this.seen++;
      return Promise.resolve(already);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private record(phase: SentCall["phase"], call: ExecuteCall | CompensateCall): Promise<CallOutcome> {
    const answered = deferred<CallOutcome>();
    const sent: SentCall = {
      phase,
      key: call.idempotencyKey,
      attempt: call.attempt,
      call,
      answer: answered.resolve,
    };
    this.sent.push(sent);
    const waiter = this.waiting.shift();
    if (waiter) {
      this.seen++;
      waiter(sent);
    }
    return answered.promise;
  }
}

/** A memory store whose writes can be held back or made to fail, and whose writes are observable. */
class ControlledStore extends MemorySagaStore {
  private gate: Promise<void> | null = null;
  failNextUpdate: Error | null = null;
  readonly written: SagaRecord[] = [];
  reads = 0;

  override get(sagaId: string): Promise<SagaRecord | null> {
    this.reads++;
    return super.get(sagaId);
  }

  hold(): () => void {
    const open = deferred<void>();
    this.gate = open.promise;
    return () => {
      this.gate = null;
      open.resolve();
    };
  }

  override async update(next: SagaRecord, version: number, events: SagaEventRecord[]): Promise<boolean> {
    if (this.gate) await this.gate;
    if (this.failNextUpdate) {
      const err = this.failNextUpdate;
      this.failNextUpdate = null;
      throw err;
    }
    const ok = await super.update(next, version, events);
    if (ok) this.written.push(next);
    return ok;
  }
}

class FakeOwnership implements PartitionOwnership {
  fence: number | null = 5;
  draining = false;
  readonly lostPartitions: number[] = [];
  fenceFor(): number | null {
    return this.fence;
  }
  owned() {
    return null;
  }
  lost(partition: number): void {
    this.lostPartitions.push(partition);
    this.fence = null;
  }
  isDraining(): boolean {
    return this.draining;
  }
}

function setup(maxInFlightCalls?: number, maxCachedSagas?: number, maxInFlightPerParticipant?: number) {
  const store = new ControlledStore();
  const transport = new FakeTransport();
  const ownership = new FakeOwnership();
  const clock = new ManualClock();
  const bus = new SagaEventBus();
  const driver = new SagaDriver(store, transport, ownership, bus, pino({ level: "silent" }), {
    pollIntervalMs: 100,
    lostCallGraceMs: 1000,
    resolveParticipant: (p) => p,
    partitionOf: () => 3,
    clock,
    random: () => 0.5,
    ...(maxInFlightCalls ? { maxInFlightCalls } : {}),
    ...(maxCachedSagas !== undefined ? { maxCachedSagas } : {}),
    ...(maxInFlightPerParticipant !== undefined ? { maxInFlightPerParticipant } : {}),
  });
  driver.start();
  return { store, transport, ownership, clock, bus, driver };
}

const twoSteps = sagaDef([stepDef("reserve"), stepDef("charge")]);
const ok = (text: string): CallOutcome => ({ ok: true, output: new TextEncoder().encode(text) });

/** Resolves once the saga has reached `status` in the store. */
function statusReached(bus: SagaEventBus, sagaId: string, status: string): Promise<void> {
  return new Promise((resolve) => {
    const off = bus.subscribe(sagaId, (events) => {
      if (events.some((e) => e.type === "STATUS_CHANGED" && e.status === status)) {
        off();
        resolve();
      }
    });
  });
}

describe("SagaDriver", () => {
  it("calls a participant only after the transition that dispatches it is written", async () => {
    const { store, transport, driver } = setup();
    const release = store.hold();
    const started = driver.startSaga({ sagaId: "s1", definition: twoSteps, definitionHash: "h" });
    // The start write is held: nothing may have been sent.
    await Promise.resolve();
    expect(transport.sent).toHaveLength(0);
    release();
    await started;
    const first = await transport.next();
    expect(first.key).toBe("s1/reserve/execute");
    expect((await store.get("s1"))?.state.steps.reserve?.status).toBe("EXECUTING");
  });

  it("records each answer and dispatches the next step in the same write, until COMPLETED", async () => {
    const { store, transport, driver, bus } = setup();
    const done = statusReached(bus, "s2", "COMPLETED");
    await driver.startSaga({ sagaId: "s2", definition: twoSteps, definitionHash: "h" });
    (await transport.next()).answer(ok("r-1"));
    const charge = await transport.next();
    expect(charge.key).toBe("s2/charge/execute");
    // reserve's output and charge's dispatch were one write.
    const afterReserve = store.written.find((r) => r.state.steps.reserve?.status === "SUCCEEDED");
    expect(afterReserve?.state.steps.charge?.status).toBe("EXECUTING");
    charge.answer(ok("c-1"));
    await done;
    expect((await store.get("s2"))?.state.status).toBe("COMPLETED");
    expect(transport.sent.map((c) => c.key)).toEqual(["s2/reserve/execute", "s2/charge/execute"]);
  });

  it("retries a transient failure when the durable timer comes due, with the same idempotency key", async () => {
    const { transport, driver, clock } = setup();
    await driver.startSaga({ sagaId: "s3", definition: twoSteps, definitionHash: "h" });
    (await transport.next()).answer({ ok: false, failure: "transient", error: "UNAVAILABLE: down" });
    const retried = transport.next();
    // Backoff is 100 ms (TEST_RETRY); the poll runs every 100 ms of the manual clock.
    for (let i = 0; i < 5 && transport.sent.length < 2; i++) {
      clock.tick(100);
      await new Promise((r) => setImmediate(r));
    }
    const second = await retried;
    expect(second.key).toBe("s3/reserve/execute");
    expect(second.attempt).toBe(2);
  });

  it("compensates the steps that succeeded, with their outputs, after a business failure", async () => {
    const { transport, driver, bus } = setup();
    const done = statusReached(bus, "s4", "COMPENSATED");
    await driver.startSaga({ sagaId: "s4", definition: twoSteps, definitionHash: "h" });
    (await transport.next()).answer(ok("reservation-9"));
    (await transport.next()).answer({
      ok: false,
      failure: "business",
      error: "FAILED_PRECONDITION: no funds",
    });
    const undo = await transport.next();
    expect(undo.phase).toBe("compensate");
    expect(undo.key).toBe("s4/reserve/compensate");
    expect(new TextDecoder().decode((undo.call as CompensateCall).executeOutput)).toBe("reservation-9");
    undo.answer({ ok: true, output: new Uint8Array() });
    await done;
  });

  it("drops its cached copy when a write fails, and the timer drives the saga on from the store", async () => {
    const { store, transport, driver, clock, bus } = setup();
    const done = statusReached(bus, "s5", "COMPLETED");
    await driver.startSaga({ sagaId: "s5", definition: twoSteps, definitionHash: "h" });
    store.failNextUpdate = new Error("store unavailable");
    const first = await transport.next();
    first.answer(ok("r"));
    // The answer could not be recorded; the in-flight call is re-sent once it is overdue.
    const resent = transport.next();
    for (let i = 0; i < 40 && transport.sent.length < 2; i++) {
      clock.tick(100);
      await new Promise((r) => setImmediate(r));
    }
    const again = await resent;
    expect(again.key).toBe("s5/reserve/execute");
    again.answer(ok("r"));
    (await transport.next()).answer(ok("c"));
    await done;
  });

  it("sends nothing for a partition being handed over", async () => {
    const { transport, driver, ownership, store } = setup();
    ownership.draining = true;
    await driver.startSaga({ sagaId: "s6", definition: twoSteps, definitionHash: "h" });
    await driver.stop();
    expect(transport.sent).toHaveLength(0);
    // The dispatch is recorded, so the next owner re-sends it.
    expect((await store.get("s6"))?.state.steps.reserve?.status).toBe("EXECUTING");
  });

  it("refuses to drive a saga of a partition it does not own", async () => {
    const { driver, ownership, transport } = setup();
    ownership.fence = null;
    await expect(
      driver.startSaga({ sagaId: "s7", definition: twoSteps, definitionHash: "h" }),
    ).rejects.toThrow(NotOwnerError);
    expect(transport.sent).toHaveLength(0);
  });

  it("leaves a saga alone when its insert landed after a newer owner claimed the partition", async () => {
    const { store, driver, ownership, transport } = setup();
    await store.claimPartitions([3], 9);
    await expect(
      driver.startSaga({ sagaId: "s8", definition: twoSteps, definitionHash: "h" }),
    ).rejects.toThrow(/newer owner/);
    expect(ownership.lostPartitions).toEqual([3]);
    expect(transport.sent).toHaveLength(0);
    // Stored due at once, for the new owner's timer.
    expect((await store.get("s8"))?.state.nextWakeAt).not.toBeNull();
  });

  it("steps down when the stored saga carries a newer owner's fence", async () => {
    const { store, driver, ownership, transport } = setup();
    await driver.startSaga({ sagaId: "s9", definition: twoSteps, definitionHash: "h" });
    const call = await transport.next();
    await store.claimPartitions([3], 50);
    call.answer(ok("late"));
    await driver.stop();
    expect(ownership.lostPartitions).toEqual([3]);
    expect((await store.get("s9"))?.state.steps.reserve?.status).toBe("EXECUTING");
  });

  it("queues calls past maxInFlightCalls and sends each when a slot frees", async () => {
    const { transport, driver, bus } = setup(1);
    const done = statusReached(bus, "q2", "COMPLETED");
    await driver.startSaga({ sagaId: "q1", definition: twoSteps, definitionHash: "h" });
    await driver.startSaga({ sagaId: "q2", definition: twoSteps, definitionHash: "h" });
    const first = await transport.next();
    expect(first.key).toBe("q1/reserve/execute");
    expect(transport.sent).toHaveLength(1);
    first.answer(ok("r"));
    // q1's next call and q2's queued one compete for the one slot, oldest first.
    const second = await transport.next();
    expect(second.key).toBe("q2/reserve/execute");
    second.answer(ok("r"));
    for (;;) {
      const call = await transport.next();
      call.answer(ok("x"));
      if (call.key === "q2/charge/execute") break;
    }
    await done;
  });

  it("reads back sagas evicted from memory while their calls waited, and drives them to the end", async () => {
    // One call at a time and one saga in memory: q2's and q3's records are evicted
    // while their first calls wait, so each is read from the store before it is sent.
    const { transport, driver, bus, store } = setup(1, 1);
    const done = ["q1", "q2", "q3"].map((id) => statusReached(bus, id, "COMPLETED"));
    for (const id of ["q1", "q2", "q3"])
      await driver.startSaga({ sagaId: id, definition: twoSteps, definitionHash: "h" });
    const readsBefore = store.reads;
    const sent: string[] = [];
    for (let answered = 0; answered < 6; answered++) {
      const call = await transport.next();
      sent.push(call.key);
      call.answer(ok("x"));
    }
    await Promise.all(done);
    expect(sent.filter((k) => k.endsWith("/reserve/execute")).sort()).toEqual([
      "q1/reserve/execute",
      "q2/reserve/execute",
      "q3/reserve/execute",
    ]);
    expect(new Set(sent).size).toBe(6);
    expect(store.reads).toBeGreaterThan(readsBefore);
  });

  it("caps calls per participant, so calls to others go ahead of a slow one's queue", async () => {
    const { transport, driver } = setup(10, undefined, 1);
    const on = (participant: string) => sagaDef([stepDef("reserve", { participant })]);
    await driver.startSaga({ sagaId: "slow-1", definition: on("slow"), definitionHash: "h" });
    await driver.startSaga({ sagaId: "slow-2", definition: on("slow"), definitionHash: "h" });
    await driver.startSaga({ sagaId: "fast-1", definition: on("fast"), definitionHash: "h" });
    const first = await transport.next();
    const second = await transport.next();
    expect([first.key, second.key]).toEqual(["slow-1/reserve/execute", "fast-1/reserve/execute"]);
    expect(transport.sent).toHaveLength(2);
    first.answer(ok("r"));
    expect((await transport.next()).key).toBe("slow-2/reserve/execute");
  });

  it("stops answering reads of a running saga from memory once the partition is not ours", async () => {
    const { driver, ownership, transport } = setup();
    await driver.startSaga({ sagaId: "r1", definition: twoSteps, definitionHash: "h" });
    await transport.next();
    expect(driver.peek("r1")?.record.state.steps.reserve?.status).toBe("EXECUTING");
    ownership.fence = null;
    expect(driver.peek("r1")).toBeUndefined();
  });
});
