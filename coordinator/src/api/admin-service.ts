import type { ServerUnaryCall, ServiceError, sendUnaryData } from "@grpc/grpc-js";
import type {
  AdminServiceServer,
  GetClusterStatusRequest,
  GetClusterStatusResponse,
  ResumeSagaRequest,
  ResumeSagaResponse,
} from "@saga-coordinator/proto";
import type { Logger } from "pino";
import { toServiceError } from "./grpc-errors.js";
import { requireReason, requireSagaId } from "./request-validation.js";
import { sagaToProto } from "./saga-to-proto.js";
import type { SagaWriter } from "./saga-writer.js";

/** Where cluster status comes from: a fixed single-node view in dev mode, etcd in a cluster. */
export interface ClusterStatusSource {
  status(): Promise<Omit<GetClusterStatusResponse, "observedAt">>;
}

export function adminService(
  writer: SagaWriter,
  cluster: ClusterStatusSource,
  logger: Logger,
): AdminServiceServer {
  const fail = (callback: sendUnaryData<never>, err: unknown) =>
    callback(toServiceError(err, logger) as ServiceError);
  return {
    resumeSaga(
      call: ServerUnaryCall<ResumeSagaRequest, ResumeSagaResponse>,
      callback: sendUnaryData<ResumeSagaResponse>,
    ) {
      Promise.resolve()
        .then(() => writer.resume(requireSagaId(call.request.sagaId), requireReason(call.request.reason)))
        .then(
          (record) => callback(null, { saga: sagaToProto(record) }),
          (err: unknown) => fail(callback, err),
        );
    },
    getClusterStatus(
      _call: ServerUnaryCall<GetClusterStatusRequest, GetClusterStatusResponse>,
      callback: sendUnaryData<GetClusterStatusResponse>,
    ) {
      cluster.status().then(
        (s) => callback(null, { ...s, observedAt: new Date() }),
        (err: unknown) => fail(callback, err),
      );
    },
  };
}
