import { status } from "@grpc/grpc-js";
import { BarrierRefusal } from "../barrier/barrier-refusal.js";
import { BusinessFailure } from "./business-failure.js";
import { CallRejection } from "./call-rejection.js";
import { TransientFailure } from "./transient-failure.js";

/** A gRPC status code and its message. */
export interface GrpcStatus {
  code: status;
  details: string;
}

/**
 * How a participant answers an error, by the outcome rules of participant.proto:
 * only a business "no" or the barrier's refusal of a late Execute may be
 * FAILED_PRECONDITION/ABORTED; everything unexpected is transient.
 */
export function grpcStatusOf(err: unknown, signal?: AbortSignal): GrpcStatus {
  if (err instanceof BusinessFailure) return { code: status.FAILED_PRECONDITION, details: err.message };
  if (err instanceof CallRejection) return { code: err.code, details: err.message };
  if (err instanceof BarrierRefusal) {
    const refused = err.reason === "hanging" || err.reason === "compensated";
    return { code: refused ? status.ABORTED : status.UNAVAILABLE, details: err.message };
  }
  if (err instanceof TransientFailure) return { code: status.UNAVAILABLE, details: err.message };
  if (signal?.aborted)
    return { code: status.DEADLINE_EXCEEDED, details: `call ended before the handler: ${message(err)}` };
  // By name, not class: the MongoDB driver is an optional peer dependency of this package.
  if (err instanceof Error && err.name.startsWith("Mongo"))
    return { code: status.UNAVAILABLE, details: `barrier store: ${err.message}` };
  return { code: status.INTERNAL, details: message(err) };
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
