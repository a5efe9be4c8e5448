import { NotOwnerError, SagaNotFoundError } from "../driver/driver-errors.js";
import type { SagaEventBus } from "../driver/saga-event-bus.js";
import { isTerminal } from "../engine/saga-state.js";
import type { SagaEventRecord } from "../store/saga-record.js";
import type { SagaStore } from "../store/saga-store.js";

const PAGE = 500;

/** Ends the watch: the last event of a saga that finished. */
export const isTerminalEvent = (event: SagaEventRecord) =>
  event.type === "STATUS_CHANGED" && isTerminal(event.status);

/** Stored events after `afterSequence`, oldest first, page by page. */
async function* storedEvents(
  store: SagaStore,
  sagaId: string,
  afterSequence: number,
): AsyncGenerator<SagaEventRecord> {
  let after = afterSequence;
  for (;;) {
    const batch = await store.events(sagaId, after, PAGE);
    for (const event of batch) {
      after = event.sequence;
      yield event;
    }
    if (batch.length < PAGE) return;
  }
}

/**
 * Yields a saga's events after `afterSequence`: the stored history first, then
 * the live events this node's driver publishes on the bus, until the saga is
 * terminal and everything is sent, or `signal` aborts. While live it reads the
 * store only to fill a gap in the sequence. It serves a running saga only
 * while this node drives it: when `moved` aborts (the partition went to
 * another node) it throws NotOwnerError, and the caller routes the watch again
 * from the last event it sent. A saga that had ended is replayed from the store.
 * Opening costs one store read (two when the history has nothing after
 * `afterSequence`).
 */
export async function* watchSagaEvents(
  store: SagaStore,
  bus: SagaEventBus,
  sagaId: string,
  afterSequence: number,
  signal: AbortSignal,
  moved?: AbortSignal,
): AsyncGenerator<SagaEventRecord> {
  let last = afterSequence;
  const live: SagaEventRecord[] = [];
  let wake: (() => void) | null = null;
  // Subscribed before the store is read, so no event falls between the two.
  const unsubscribe = bus.subscribe(sagaId, (events) => {
    live.push(...events);
    wake?.();
  });
  const onStop = () => wake?.();
  signal.addEventListener("abort", onStop);
  moved?.addEventListener("abort", onStop);
  try {
    let stored = 0;
    for await (const event of storedEvents(store, sagaId, last)) {
      stored++;
      last = event.sequence;
      yield event;
      if (isTerminalEvent(event)) return;
    }
    // Every status change is recorded, so a saga whose history goes on has not ended.
    // With nothing new in it, only the saga itself tells whether it exists and has ended.
    if (stored === 0) {
      const saga = await store.get(sagaId);
      if (!saga) throw new SagaNotFoundError(sagaId);
      if (isTerminal(saga.state.status) && saga.eventSeq <= last) return;
    }
    for (;;) {
      if (signal.aborted) return;
      if (moved?.aborted) throw new NotOwnerError(`saga ${sagaId} moved to another node`);
      const next = live.shift();
      if (!next) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = null;
        continue;
      }
      if (next.sequence <= last) continue;
      if (next.sequence > last + 1) {
        // Events this node did not publish (written before it drove the saga): from the store.
        for await (const event of storedEvents(store, sagaId, last)) {
          if (event.sequence >= next.sequence) break;
          last = event.sequence;
          yield event;
          if (isTerminalEvent(event)) return;
        }
      }
      last = next.sequence;
      yield next;
      if (isTerminalEvent(next)) return;
    }
  } finally {
    unsubscribe();
    signal.removeEventListener("abort", onStop);
    moved?.removeEventListener("abort", onStop);
  }
}
