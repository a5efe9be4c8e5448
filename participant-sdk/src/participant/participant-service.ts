import type { ServerUnaryCall, ServiceError, sendUnaryData } from "@grpc/grpc-js";
import { Metadata, status } from "@grpc/grpc-js";
import type { ParticipantServiceServer } from "@saga-coordinator/proto";
import type { Logger } from "pino";
import { peerIdentities } from "../tls/peer-identity.js";
import { callScope } from "./call-scope.js";
import { grpcStatusOf } from "./grpc-status-of.js";
import type { CallScope, StepDispatcher } from "./step-dispatcher.js";

/** The grpc-js implementation of saga.v1.ParticipantService over a StepDispatcher. */
export function participantService(
  dispatcher: StepDispatcher,
  logger: Logger,
  allowedCallers?: readonly string[],
): ParticipantServiceServer {
  const allowed = allowedCallers ? new Set(allowedCallers) : null;
  return {
    execute: (call, callback) =>
      refuseUnknownCaller(call, callback, allowed, logger) ||
      answer(call, callback, (scope) => dispatcher.execute(call.request, scope), logger),
    compensate: (call, callback) =>
      refuseUnknownCaller(call, callback, allowed, logger) ||
      answer(call, callback, (scope) => dispatcher.compensate(call.request, scope), logger),
  };
}

/**
 * With an allow-list, only a caller whose verified client certificate names an
 * allowed identity gets past this point, so a forged Execute or Compensate
 * never reaches the barrier or a handler. True when the call was refused.
 */
function refuseUnknownCaller<Req extends { sagaId: string; step: string }, Res>(
  call: ServerUnaryCall<Req, Res>,
  callback: sendUnaryData<Res>,
  allowed: Set<string> | null,
  logger: Logger,
): boolean {
  if (!allowed) return false;
  const identities = peerIdentities(call);
  if (identities.some((id) => allowed.has(id))) return false;
  const details =
    identities.length === 0
      ? "caller presented no client certificate; this participant accepts only the coordinator's (mTLS)"
      : `caller ${identities.join(", ")} is not an allowed coordinator identity (allowed: ${[...allowed].join(", ")})`;
  logger.warn({ sagaId: call.request.sagaId, step: call.request.step, peer: call.getPeer() }, details);
  callback({ code: status.PERMISSION_DENIED, details, metadata: new Metadata() });
  return true;
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
