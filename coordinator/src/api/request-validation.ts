import { invalidArgument } from "./grpc-errors.js";

const SAGA_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;

export function requireSagaId(sagaId: string, field = "saga_id"): string {
  if (sagaId === "") throw invalidArgument(`${field}: is required`);
  if (!SAGA_ID.test(sagaId)) {
    throw invalidArgument(
      `${field}: ${JSON.stringify(sagaId.slice(0, 140))} is not valid; use 1..128 characters of [A-Za-z0-9._:-]`,
    );
  }
  return sagaId;
}

export function requireReason(reason: string): string {
  if (reason.length > 512)
    throw invalidArgument(`reason: ${reason.length} characters; at most 512 are allowed`);
  return reason;
}

/** A participant must be a configured logical name or a host:port address. */
export function participantProblem(participant: string, known: ReadonlySet<string>): string | null {
  if (participant === "" || known.has(participant) || HOST_PORT.test(participant)) return null;
  const names =
    known.size > 0 ? `one of ${[...known].join(", ")}` : "none are configured (--participant NAME=HOST:PORT)";
  return `${JSON.stringify(participant)} is neither a host:port address nor a known participant name (${names})`;
}
