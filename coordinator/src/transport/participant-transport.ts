import type { FailureKind } from "../engine/saga-input.js";

/** What the coordinator sends to a participant (the wire request minus addressing). */
export interface ParticipantCall {
  sagaId: string;
  sagaType: string;
  step: string;
  idempotencyKey: string;
  attempt: number;
  payload: Uint8Array;
  contentType: string;
}

export interface ExecuteCall extends ParticipantCall {
  dependencyOutputs: Record<string, Uint8Array>;
}

export interface CompensateCall extends ParticipantCall {
  executeOutput: Uint8Array;
  reason: string;
}

export type CallOutcome =
  | { ok: true; output: Uint8Array }
  | { ok: false; failure: FailureKind; error: string };

/** How the driver reaches participants; gRPC in production, anything in tests. */
export interface ParticipantTransport {
  execute(address: string, call: ExecuteCall, timeoutMs: number): Promise<CallOutcome>;
  compensate(address: string, call: CompensateCall, timeoutMs: number): Promise<CallOutcome>;
  close(): void;
}
