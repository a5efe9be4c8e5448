import { EventEmitter } from "node:events";
import type { SagaEventRecord } from "../store/saga-record.js";

/** In-process fan-out of freshly persisted events, so WatchSaga streams live without polling delay. */
export class SagaEventBus {
  private readonly emitter = new EventEmitter();

  constructor() {
    // One listener per open WatchSaga stream; there is no meaningful fixed limit.
    this.emitter.setMaxListeners(0);
  }

  publish(sagaId: string, events: SagaEventRecord[]): void {
    if (events.length > 0) this.emitter.emit(sagaId, events);
  }

  subscribe(sagaId: string, listener: (events: SagaEventRecord[]) => void): () => void {
    this.emitter.on(sagaId, listener);
    return () => this.emitter.off(sagaId, listener);
  }
}
