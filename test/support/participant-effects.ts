import { credentials } from "@grpc/grpc-js";
import { ParticipantServiceClient } from "@saga-coordinator/proto";
import { call } from "./grpc-call.js";

/**
 * Asks a participant, through the conformance kit's reserved step, how often it
 * applied the Execute and Compensate effects of one step of one saga.
 */
export async function effectsOf(
  address: string,
  sagaId: string,
  step: string,
): Promise<{ executed: number; compensated: number }> {
  const client = new ParticipantServiceClient(address, credentials.createInsecure());
  try {
    const probeSaga = `probe-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const res = await call(client.execute, client, {
      sagaId: probeSaga,
      sagaType: "conformance",
      step: "conformance.effects",
      idempotencyKey: `${probeSaga}/conformance.effects/execute`,
      attempt: 1,
      payload: Buffer.from(JSON.stringify({ idempotency_key: `${sagaId}/${step}/execute` })),
      contentType: "application/json",
      dependencyOutputs: {},
    });
    return JSON.parse(Buffer.from(res.output).toString("utf8"));
  } finally {
    client.close();
  }
}
