import type { SagaEventBus } from "../driver/saga-event-bus.js";
import { isTerminal } from "../engine/saga-state.js";
import type { SagaEventRecord } from "../store/saga-record.js";
import type { SagaStore } from "../store/saga-store.js";

const PAGE = 500;

/**
 * Yields a saga's events after `afterSequence`: the stored history first, then
 * live ones, until the saga is terminal and everything is sent, or `signal`
 * aborts. Live events come from the in-process bus when this node drives the
 * saga, and from polling the store otherwise (another node drives it).
 */
export async function* watchSagaEvents(
  store: SagaStore,
  bus: SagaEventBus,
  sagaId: string,
  afterSequence: number,
  signal: AbortSignal,
  pollIntervalMs = 250,
): AsyncGenerator<SagaEventRecord> {
  let last = afterSequence;
  let wake: (() => void) | null = null;
  const unsubscribe = bus.subscribe(sagaId, () => wake?.());
  const onAbort = () => wake?.();
  signal.addEventListener("abort", onAbort);
  try {
    // Terminal is seen in the stream itself (its last STATUS_CHANGED), so the
    // saga document is read once, for a saga that had ended before we came.
    const saga = await store.get(sagaId);
    if (!saga || (isTerminal(saga.state.status) && saga.eventSeq <= last)) return;
    while (!signal.aborted) {
      const batch = await store.events(sagaId, last, PAGE);
      for (const event of batch) {
        last = event.sequence;
        yield event;
        if (event.type === "STATUS_CHANGED" && isTerminal(event.status)) return;
      }
      if (batch.length === PAGE) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollIntervalMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
    }
  } finally {
    unsubscribe();
    signal.removeEventListener("abort", onAbort);
  }
}
