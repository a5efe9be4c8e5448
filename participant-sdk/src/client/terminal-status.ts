import { SagaStatus } from "@saga-coordinator/proto";

/**
 * Whether a saga has stopped moving on its own. FAILED counts: it waits for
 * an operator (AdminService.ResumeSaga) and may move again after that.
 */
export function isTerminalStatus(status: SagaStatus): boolean {
  return (
    status === SagaStatus.SAGA_STATUS_COMPLETED ||
    status === SagaStatus.SAGA_STATUS_COMPENSATED ||
    status === SagaStatus.SAGA_STATUS_FAILED
  );
}
