import type { NewSaga } from "../driver/saga-driver.js";
import type { SagaRecord } from "../store/saga-record.js";

/**
 * Where state-changing requests go. A single node applies them itself; a
 * cluster node forwards them to the owner of the saga's partition.
 */
export interface SagaWriter {
  startSaga(saga: NewSaga): Promise<{ record: SagaRecord; created: boolean }>;
  cancel(sagaId: string, reason: string): Promise<SagaRecord>;
  resume(sagaId: string, reason: string): Promise<SagaRecord>;
}
