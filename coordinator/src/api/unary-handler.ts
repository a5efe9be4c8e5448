import type { Deadline, Metadata, ServerUnaryCall, ServiceError, sendUnaryData } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { toServiceError } from "./grpc-errors.js";
import { FORWARDED_HEADER, type WriteOptions } from "./request-router.js";

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

/** Routing facts of a call: was it forwarded by another node, and the caller's deadline (Infinity = none). */
export function writeOptions(call: { metadata: Metadata; getDeadline(): Deadline }): WriteOptions {
  const deadline = call.getDeadline();
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  const [authorization] = call.metadata.get("authorization");
  return {
    forwarded: call.metadata.get(FORWARDED_HEADER).length > 0,
    ...(Number.isFinite(ms) ? { deadline: ms } : {}),
    ...(typeof authorization === "string" ? { authorization } : {}),
  };
}
