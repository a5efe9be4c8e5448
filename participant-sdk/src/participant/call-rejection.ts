import type { status } from "@grpc/grpc-js";

/** A call the participant refuses before any handler or barrier sees it (unknown step, malformed key). */
export class CallRejection extends Error {
  override readonly name = "CallRejection";

  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
  }
}
