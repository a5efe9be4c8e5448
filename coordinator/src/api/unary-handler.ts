import type { ServerUnaryCall, ServiceError, sendUnaryData } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { toServiceError } from "./grpc-errors.js";
import { FORWARDED_HEADER, type WriteOptions } from "./saga-writer.js";

/** Wraps an async handler so every error becomes a gRPC status and none escapes. */
export function unary<Req, Res>(logger: Logger, handler: (req: Req, opts: WriteOptions) => Promise<Res>) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    Promise.resolve()
      .then(() => handler(call.request, writeOptions(call)))
      .then(
        (res) => callback(null, res),
        (err: unknown) => callback(toServiceError(err, logger) as ServiceError),
      );
  };
}

function writeOptions(call: ServerUnaryCall<unknown, unknown>): WriteOptions {
  const deadline = call.getDeadline();
  return {
    forwarded: call.metadata.get(FORWARDED_HEADER).length > 0,
    ...(deadline instanceof Date
      ? { deadline: deadline.getTime() }
      : typeof deadline === "number" && Number.isFinite(deadline)
        ? { deadline }
        : {}),
  };
}
