import type { NewSaga } from "../driver/saga-driver.js";
import type { SagaRecord } from "../store/saga-record.js";

/** Applies state-changing requests on this node (the driver). */
export interface SagaWriter {
  startSaga(saga: NewSaga): Promise<{ record: SagaRecord; created: boolean }>;
  cancel(sagaId: string, reason: string): Promise<SagaRecord>;
  resume(sagaId: string, reason: string): Promise<SagaRecord>;
}

export interface WriteOptions {
  /** The request was already forwarded once by another node: never forward it again. */
  forwarded?: boolean;
  /** The caller's deadline (epoch ms), carried over when forwarding. */
  deadline?: number;
}

/** Metadata key that marks a request forwarded between nodes. */
export const FORWARDED_HEADER = "x-saga-forwarded";
