import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import {
  NotOwnerError,
  SagaConflictError,
  SagaNotFoundError,
  SagaRejectedError,
} from "../driver/driver-errors.js";
import { StoreTimeoutError } from "../store/store-timeout.js";
import { RequestShapeError } from "./definition-from-request.js";

/** An error that already knows its gRPC status. */
export class StatusError extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
  }
}

export const invalidArgument = (message: string) => new StatusError(status.INVALID_ARGUMENT, message);

/** Maps any error onto a gRPC status; unexpected ones are logged and become INTERNAL/UNAVAILABLE. */
export function toServiceError(err: unknown, logger: Logger): Partial<ServiceError> {
  const make = (code: status, details: string) => ({ code, details, metadata: new Metadata() });
  if (err instanceof StatusError) return make(err.code, err.message);
  if (err instanceof RequestShapeError) return make(status.INVALID_ARGUMENT, err.message);
  if (err instanceof SagaNotFoundError) return make(status.NOT_FOUND, err.message);
  if (err instanceof SagaConflictError) return make(status.ALREADY_EXISTS, err.message);
  if (err instanceof SagaRejectedError) return make(status.FAILED_PRECONDITION, err.message);
  if (err instanceof NotOwnerError) return make(status.UNAVAILABLE, `${err.message}; retry shortly`);
  const remote = err as { code?: unknown; details?: unknown };
  if (typeof remote.code === "number" && typeof remote.details === "string" && remote.code in status) {
    // A status answered by another node we forwarded to: pass it through unchanged.
    return make(remote.code as status, remote.details);
  }
  const name = (err as { name?: string })?.name ?? "";
  if (name.startsWith("Mongo") || err instanceof StoreTimeoutError) {
    logger.warn({ err }, "store unavailable");
    return make(status.UNAVAILABLE, "the saga store is unavailable; retry shortly");
  }
  logger.error({ err }, "unexpected error in request");
  return make(status.INTERNAL, "internal error; see the coordinator's log");
}
