import { type CallOptions, type Metadata, type ServiceError, status } from "@grpc/grpc-js";
import type { WatchSagaResponse } from "@saga-coordinator/proto";
import type { RemoteNode } from "./request-router.js";

/**
 * The saga's stream messages (each an event, the last one with the saga as it
 * ended) as the owner node streams them (one forwarded WatchSaga,
 * no deadline unless the caller gave one). Ends when the owner ends the
 * stream; throws its status otherwise. Cancels the owner's stream only when
 * the caller stops early, never after a normal end.
 */
export async function* forwardedSagaEvents(
  node: RemoteNode,
  /** The saga as the caller named it (the owner qualifies it the same way). */
  saga: { namespace?: string | undefined; sagaId: string },
  afterSequence: number,
  metadata: Metadata,
  signal: AbortSignal,
  deadline?: number,
): AsyncGenerator<WatchSagaResponse & { event: NonNullable<WatchSagaResponse["event"]> }> {
  const options: CallOptions = deadline === undefined ? {} : { deadline };
  const stream = node.coordinator.watchSaga(
    { sagaId: saga.sagaId, namespace: saga.namespace, afterSequence },
    metadata,
    options,
  );
  let ended = false;
  const cancel = () => stream.cancel();
  signal.addEventListener("abort", cancel, { once: true });
  try {
    for await (const message of stream as AsyncIterable<WatchSagaResponse>) {
      if (message.event) yield { ...message, event: message.event };
    }
    ended = true;
  } finally {
    signal.removeEventListener("abort", cancel);
    if (!ended) stream.cancel();
  }
}

/**
 * Whether a forwarded watch broke because of where the saga lives (the owner
 * went away, is handing over, or its connection was reset), so that routing it
 * again from the last event sent is the right answer.
 */
export function isRoutingFailure(err: unknown): boolean {
  const code = (err as Partial<ServiceError>)?.code;
  if (code === status.UNAVAILABLE || code === status.CANCELLED) return true;
  // grpc-js reports a connection torn down under a live stream as INTERNAL "Received RST_STREAM ...".
  const details = (err as Partial<ServiceError>)?.details ?? "";
  return code === status.INTERNAL && details.startsWith("Received RST_STREAM");
}
