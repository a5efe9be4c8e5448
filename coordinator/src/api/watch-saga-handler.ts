import { setTimeout as sleep } from "node:timers/promises";
import { Metadata, type ServerWritableStream, status } from "@grpc/grpc-js";
import type { Saga, SagaEvent, WatchSagaRequest, WatchSagaResponse } from "@saga-coordinator/proto";
import type { Logger } from "pino";
import { NotOwnerError } from "../driver/driver-errors.js";
import type { SagaEventBus } from "../driver/saga-event-bus.js";
import type { SagaStore } from "../store/saga-store.js";
import { forwardedSagaEvents, isRoutingFailure } from "./forwarded-watch.js";
import { toServiceError } from "./grpc-errors.js";
import type { OwnershipLossMonitor } from "./ownership-loss-monitor.js";
import type { RequestRouter, WriteOptions } from "./request-router.js";
import { requireSagaKey } from "./request-validation.js";
import { eventToProto, sagaToProto } from "./saga-to-proto.js";
import type { StreamLimits } from "./stream-limits.js";
import { writeOptions } from "./unary-handler.js";
import { isTerminalEvent, watchSagaEvents } from "./watch-saga.js";

export interface WatchSagaDeps {
  store: SagaStore;
  bus: SagaEventBus;
  router: RequestRouter;
  /** Tells bus-served watches when this node stops driving their partition; absent: it never does. */
  ownershipLoss?: OwnershipLossMonitor;
  partitionOf: (sagaId: string) => number;
  logger: Logger;
  /** Open streams per node and per caller; absent: unlimited. */
  limits?: StreamLimits;
  /** Who is calling, for the per-caller limit (the authenticated identity, else the peer's host). */
  callerOf?: (call: ServerWritableStream<WatchSagaRequest, WatchSagaResponse>) => string;
}

const FIRST_RETRY_MS = 50;
const MAX_RETRY_MS = 1_000;

/**
 * WatchSaga. The node that drives the saga's partition serves the watch: the
 * history from the store, then live events from its event bus (a saga that
 * has ended is just replayed). Any other node forwards the stream to that
 * owner (one hop, the same routing as writes) and relays it, reading nothing
 * itself. When the saga moves between nodes mid-stream, the watch is routed
 * again from the last event sent, so the client sees every event once, in
 * order. No store query per stream per tick. The message of the event that
 * ends the saga also carries the saga, so a waiting client needs no GetSaga.
 */
export function watchSagaHandler(deps: WatchSagaDeps) {
  const { store, bus, router, ownershipLoss, partitionOf, logger } = deps;

  const serve = async (
    call: ServerWritableStream<WatchSagaRequest, WatchSagaResponse>,
    opts: WriteOptions,
    signal: AbortSignal,
  ): Promise<void> => {
    const sagaId = requireSagaKey(call.request);
    let last = call.request.afterSequence;
    let retryMs = FIRST_RETRY_MS;
    const send = async (event: SagaEvent, saga?: Saga) => {
      last = event.sequence;
      retryMs = FIRST_RETRY_MS;
      if (!call.write(saga ? { event, saga } : { event })) await drained(call, signal);
    };

    const local = async () => {
      const hold = ownershipLoss?.hold(partitionOf(sagaId));
      if (hold === null) throw new NotOwnerError(`this node no longer drives saga ${sagaId}`);
      try {
        for await (const event of watchSagaEvents(store, bus, sagaId, last, signal, hold?.signal)) {
          // The driver remembers a saga that just ended: usually no store read.
          const ended = isTerminalEvent(event) ? await store.get(sagaId) : null;
          await send(eventToProto(event), ended ? sagaToProto(ended) : undefined);
        }
      } finally {
        hold?.release();
      }
    };
    for (;;) {
      try {
        return await router.route(sagaId, opts, local, async (node, metadata) => {
          for await (const message of forwardedSagaEvents(
            node,
            call.request,
            last,
            metadata,
            signal,
            opts.deadline,
          ))
            await send(message.event, message.saga);
        });
      } catch (err) {
        if (signal.aborted) return;
        // A forwarded watch reports the move to the node that forwarded it, which routes again.
        const moved = err instanceof NotOwnerError || isRoutingFailure(err);
        if (!moved || opts.forwarded) throw err;
        logger.debug({ sagaId, after: last, reason: String(err) }, "routing the watch again");
        await sleep(retryMs, undefined, { signal }).catch(() => {});
        retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
      }
    }
  };

  return (call: ServerWritableStream<WatchSagaRequest, WatchSagaResponse>) => {
    const opts = writeOptions(call);
    // A stream another node forwarded was counted against its caller there.
    const caller = opts.forwarded ? null : (deps.callerOf?.(call) ?? null);
    const slot = deps.limits?.open(caller) ?? { ok: true as const, release: () => {} };
    if (!slot.ok) {
      call.emit("error", { code: status.RESOURCE_EXHAUSTED, details: slot.reason, metadata: new Metadata() });
      return;
    }
    const abort = new AbortController();
    abort.signal.addEventListener("abort", slot.release, { once: true });
    call.on("cancelled", () => abort.abort());
    call.on("close", () => abort.abort());
    serve(call, opts, abort.signal).then(
      () => {
        if (!abort.signal.aborted) call.end();
      },
      (err: unknown) => {
        // grpc-js ends a server stream with a status when "error" is emitted on it.
        if (!abort.signal.aborted) call.emit("error", toServiceError(err, logger));
      },
    );
  };
}

/** Resolves once the stream can take more, or the call is gone. */
function drained(call: ServerWritableStream<WatchSagaRequest, WatchSagaResponse>, signal: AbortSignal) {
  return new Promise<void>((resolve) => {
    const done = () => {
      call.off("drain", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    call.once("drain", done);
    signal.addEventListener("abort", done, { once: true });
  });
}
