import type { ServerUnaryCall } from "@grpc/grpc-js";
import type { CallScope } from "./step-dispatcher.js";

/** A call's deadline and an AbortSignal that fires on the deadline or on cancellation. */
export function callScope(call: ServerUnaryCall<unknown, unknown>): CallScope & { dispose(): void } {
  const controller = new AbortController();
  const raw = call.getDeadline();
  const deadline = raw instanceof Date ? raw.getTime() : Number.isFinite(raw) ? raw : undefined;
  const onCancel = () => controller.abort(new Error("call cancelled by the caller"));
  call.once("cancelled", onCancel);
  const timer =
    deadline === undefined
      ? undefined
      : setTimeout(
          () => controller.abort(new Error("deadline exceeded")),
          Math.max(0, deadline - Date.now()),
        );
  timer?.unref();
  return {
    signal: controller.signal,
    deadline,
    dispose: () => {
      clearTimeout(timer);
      call.removeListener("cancelled", onCancel);
    },
  };
}
