import { describe, expect, it } from "vitest";
import { NotOwnerError, SagaNotFoundError } from "../driver/driver-errors.js";
import { SagaEventBus } from "../driver/saga-event-bus.js";
import type { SagaStatus } from "../engine/saga-state.js";
import type { SagaEventRecord, SagaRecord } from "../store/saga-record.js";
import type { SagaStore } from "../store/saga-store.js";
import { watchSagaEvents } from "./watch-saga.js";

const SAGA = "s-1";

function event(sequence: number, status: SagaStatus = "RUNNING"): SagaEventRecord {
  return {
    sagaId: SAGA,
    sequence,
    type: status === "RUNNING" ? "STEP_SUCCEEDED" : "STATUS_CHANGED",
    time: sequence,
    step: "a",
    attempt: 1,
    status,
    detail: "",
  };
}

/** The two reads a watch makes, over a history the test appends to; counts every read. */
function history(events: SagaEventRecord[], status: SagaStatus = "RUNNING") {
  const reads: string[] = [];
  const store = {
    async get(sagaId: string) {
      reads.push("get");
      if (sagaId !== SAGA) return null;
      return { sagaId, state: { status }, eventSeq: events.at(-1)?.sequence ?? 0 } as unknown as SagaRecord;
    },
    async events(sagaId: string, after: number, limit: number) {
      reads.push("events");
      return events.filter((e) => e.sagaId === sagaId && e.sequence > after).slice(0, limit);
    },
  } as unknown as SagaStore;
  return { store, reads };
}

async function collect(gen: AsyncGenerator<SagaEventRecord>): Promise<number[]> {
  const seen: number[] = [];
  for await (const e of gen) seen.push(e.sequence);
  return seen;
}

describe("watchSagaEvents", () => {
  it("replays the history, then follows the bus to the terminal event, reading the store once", async () => {
    const stored = [event(1), event(2)];
    const { store, reads } = history(stored);
    const bus = new SagaEventBus();
    const gen = watchSagaEvents(store, bus, SAGA, 0, new AbortController().signal);
    expect((await gen.next()).value?.sequence).toBe(1); // subscribed and replaying
    expect((await gen.next()).value?.sequence).toBe(2);
    const rest = collect(gen);
    bus.publish(SAGA, [event(2), event(3)]); // 2 again: dropped
    bus.publish("other", [event(9)]);
    bus.publish(SAGA, [event(4, "COMPLETED")]);
    expect(await rest).toEqual([3, 4]);
    expect(reads).toEqual(["events"]);
  });

  it("fills a gap in the bus's sequence from the store", async () => {
    const stored = [event(1)];
    const { store } = history(stored);
    const bus = new SagaEventBus();
    const gen = watchSagaEvents(store, bus, SAGA, 0, new AbortController().signal);
    expect((await gen.next()).value?.sequence).toBe(1);
    const rest = collect(gen);
    // Events 2 and 3 were written while another node drove the saga.
    stored.push(event(2), event(3), event(4, "COMPENSATED"));
    bus.publish(SAGA, [event(4, "COMPENSATED")]);
    expect(await rest).toEqual([2, 3, 4]);
  });

  it("ends at once for a saga that had ended before, and fails for an unknown one", async () => {
    const { store, reads } = history([event(1), event(2, "COMPLETED")], "COMPLETED");
    const bus = new SagaEventBus();
    const signal = new AbortController().signal;
    expect(await collect(watchSagaEvents(store, bus, SAGA, 0, signal))).toEqual([1, 2]);
    expect(await collect(watchSagaEvents(store, bus, SAGA, 2, signal))).toEqual([]);
    expect(reads).toEqual(["events", "events", "get"]);
    await expect(collect(watchSagaEvents(store, bus, "nope", 0, signal))).rejects.toBeInstanceOf(
      SagaNotFoundError,
    );
  });

  it("throws NotOwnerError once the saga moved, and returns quietly when the caller stops", async () => {
    const { store } = history([event(1)]);
    const bus = new SagaEventBus();
    const moved = new AbortController();
    const gen = watchSagaEvents(store, bus, SAGA, 0, new AbortController().signal, moved.signal);
    expect((await gen.next()).value?.sequence).toBe(1);
    const waiting = gen.next();
    moved.abort();
    await expect(waiting).rejects.toBeInstanceOf(NotOwnerError);

    const stop = new AbortController();
    const stopped = collect(watchSagaEvents(store, bus, SAGA, 1, stop.signal));
    stop.abort();
    expect(await stopped).toEqual([]);
  });
});
