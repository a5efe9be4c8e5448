import { type Metadata, status } from "@grpc/grpc-js";
import { isServiceError } from "../grpc/unary-call.js";

/** A failed SagaClient call: the gRPC status code and message of the coordinator's answer. */
export class SagaClientError extends Error {
  override readonly name = "SagaClientError";

  constructor(
    /** The gRPC status code (`status.NOT_FOUND`, ...). */
    readonly code: status,
    /** The coordinator's message, e.g. which field broke which limit. */
    readonly details: string,
    /** The RPC that failed, e.g. "StartSaga". */
    readonly method: string,
    readonly metadata?: Metadata,
  ) {
    super(`${method}: ${status[code] ?? code}: ${details}`);
  }

  /** The code's name, e.g. "NOT_FOUND". */
  get codeName(): string {
    return status[this.code] ?? String(this.code);
  }

  /** Wraps whatever a call threw; aborts become CANCELLED, unknown errors UNKNOWN. */
  static from(err: unknown, method: string): SagaClientError {
    if (err instanceof SagaClientError) return err;
    if (isServiceError(err)) return new SagaClientError(err.code, err.details, method, err.metadata);
    if (err instanceof Error && err.name === "AbortError") {
      return new SagaClientError(status.CANCELLED, "cancelled by the caller", method);
    }
    return new SagaClientError(status.UNKNOWN, err instanceof Error ? err.message : String(err), method);
  }
}
