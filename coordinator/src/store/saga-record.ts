import type { SagaDefinition } from "../engine/saga-definition.js";
import type { HistoryEventType } from "../engine/saga-input.js";
import type { SagaState, SagaStatus } from "../engine/saga-state.js";

/** Everything persisted about one saga: one document in MongoDB. */
export interface SagaRecord {
  sagaId: string;
  /** hash(sagaId) mod partition count: who may drive it in a cluster. */
  partition: number;
  definition: SagaDefinition;
  /** Hash of the canonical definition, for StartSaga's idempotency check. */
  definitionHash: string;
  state: SagaState;
  /** Optimistic-concurrency version: +1 per transition. */
  version: number;
  /** Fencing token of the last writer; a write with a smaller token is refused. */
  fence: number;
  createdAt: number;
  updatedAt: number;
  /** Sequence number of the saga's last history event. */
  eventSeq: number;
}

/** One entry of a saga's append-only history. */
export interface SagaEventRecord {
  sagaId: string;
  sequence: number;
  type: HistoryEventType;
  time: number;
  step: string;
  attempt: number;
  status: SagaStatus;
  detail: string;
}
