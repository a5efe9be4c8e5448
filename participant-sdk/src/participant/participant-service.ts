import type { ServerUnaryCall, ServiceError, sendUnaryData } from "@grpc/grpc-js";
import { Metadata, status } from "@grpc/grpc-js";
import type { ParticipantServiceServer } from "@saga-coordinator/proto";
import type { Logger } from "pino";
import { callScope } from "./call-scope.js";
import { grpcStatusOf } from "./grpc-status-of.js";
import type { CallScope, StepDispatcher } from "./step-dispatcher.js";

/** The grpc-js implementation of saga.v1.ParticipantService over a StepDispatcher. */
export function participantService(dispatcher: StepDispatcher, logger: Logger): ParticipantServiceServer {
  return {
    execute: (call, callback) =>
      answer(call, callback, (scope) => dispatcher.execute(call.request, scope), logger),
    compensate: (call, callback) =>
      answer(call, callback, (scope) => dispatcher.compensate(call.request, scope), logger),
  };
}

function answer<Req extends { sagaId: string; step: string }, Res>(
  call: ServerUnaryCall<Req, Res>,
  callback: sendUnaryData<Res>,
  run: (scope: CallScope) => Promise<Res>,
  logger: Logger,
): void {
  const scope = callScope(call);
  run(scope).then(
    (response) => {
      scope.dispose();
      callback(null, response);
    },
    (err: unknown) => {
      scope.dispose();
      const { code, details } = grpcStatusOf(err, scope.signal);
      const level = code === status.INTERNAL ? "warn" : "debug";
      logger[level]({ sagaId: call.request.sagaId, step: call.request.step, code, err }, details);
      const error: Partial<ServiceError> = { code, details, metadata: new Metadata() };
      callback(error);
    },
  );
}
