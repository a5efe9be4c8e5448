import type { NewSaga } from "../driver/saga-driver.js";
import type { SagaRecord } from "../store/saga-record.js";

/** Applies state-changing requests on this node (the driver). */
export interface SagaWriter {
  startSaga(saga: NewSaga): Promise<{ record: SagaRecord; created: boolean }>;
  cancel(sagaId: string, reason: string): Promise<SagaRecord>;
  resume(sagaId: string, reason: string): Promise<SagaRecord>;
}
