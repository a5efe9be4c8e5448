import type { NewSaga } from "../driver/saga-driver.js";
import type { StepOverride } from "../engine/saga-state.js";
import type { SagaRecord } from "../store/saga-record.js";

/** Applies state-changing requests on this node (the driver). */
export interface SagaWriter {
  startSaga(saga: NewSaga): Promise<{ record: SagaRecord; created: boolean }>;
  cancel(sagaId: string, reason: string): Promise<SagaRecord>;
  /** `overrides`: new timeout, retry policies or participant of steps, by step name. */
  resume(sagaId: string, reason: string, overrides?: Record<string, StepOverride>): Promise<SagaRecord>;
}
