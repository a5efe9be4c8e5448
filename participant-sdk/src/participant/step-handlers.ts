import type { Logger } from "pino";
import type { ExecuteOutcome } from "../barrier/barrier-record.js";
import type { BarrierWriteOptions } from "../barrier/barrier-store.js";

/** What every handler gets: the request's fields plus call-scoped tools. */
export interface StepContext {
  sagaId: string;
  sagaType: string;
  step: string;
  /** "<saga_id>/<step>/execute" or ".../compensate": stable across attempts. */
  idempotencyKey: string;
  /** 1-based; informational only (never key effects on it). */
  attempt: number;
  payload: Buffer;
  contentType: string;
  /**
   * Aborted when the call's gRPC deadline passes, the caller cancels, or the
   * barrier's claim was taken over. Pass it to your I/O and stop when it fires.
   */
  signal: AbortSignal;
  /** pino child logger with sagaId, step, attempt and phase bound. */
  logger: Logger;
}

export interface ExecuteContext extends StepContext {
  /** Outputs of the step's direct dependencies, by step name. */
  dependencyOutputs: Record<string, Buffer>;
  /**
   * Optional: record this Execute as done now, inside your own MongoDB
   * session/transaction (`{ session }`), so your business write and the
   * barrier record commit together. Then even a crash right after the
   * commit can never run the handler again. Without it the SDK records the
   * output after the handler returns. No-op when the barrier is off.
   * Throws if the claim was taken over (let your transaction abort).
   */
  commit(output: Uint8Array, options?: BarrierWriteOptions): Promise<void>;
}

export interface CompensateContext extends StepContext {
  /**
   * Execute's output: as the barrier recorded it, else as the coordinator sent
   * it (empty when the Execute's outcome is unknown to both).
   */
  executeOutput: Buffer;
  /** Why the saga is compensating, for logs. */
  reason: string;
  /**
   * "completed": the Execute finished here. "interrupted": its process died
   * mid-handler, so the effect may be partly applied. "unknown": barrier off.
   */
  executeOutcome: ExecuteOutcome;
  /** Like ExecuteContext.commit: record the compensation inside your own session/transaction. */
  commit(options?: BarrierWriteOptions): Promise<void>;
}

/** Execute's output bytes; nothing means an empty output. */
// biome-ignore lint/suspicious/noConfusingVoidType: lets `async (ctx) => {}` be an Execute handler.
export type StepOutput = Uint8Array | undefined | void;

/** One step a participant implements. */
export interface StepHandlers {
  /**
   * Applies the effect and returns the output. Throw BusinessFailure for a
   * business "no" (only when nothing took effect); any other error is
   * transient and the call is retried. A handler that throws must leave no
   * effect behind (or be safe to run again): the barrier lets a retry run it.
   */
  execute: (ctx: ExecuteContext) => Promise<StepOutput>;
  /** Undoes the effect. Must eventually succeed; throwing means "retry me". */
  compensate: (ctx: CompensateContext) => Promise<void>;
  /**
   * false: calls to this step bypass the barrier (for read-only steps such as
   * the conformance effect counter). Default true.
   */
  barrier?: boolean;
}
