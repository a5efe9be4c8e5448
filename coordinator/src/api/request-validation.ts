import { DEFAULT_NAMESPACE, NAMESPACE_PATTERN, sagaKey } from "../store/saga-key.js";
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

/** A request's namespace, "" meaning "default"; INVALID_ARGUMENT when malformed. */
export function requireNamespace(namespace: string | undefined): string {
  if (namespace === undefined || namespace === "") return DEFAULT_NAMESPACE;
  if (!NAMESPACE_PATTERN.test(namespace)) {
    throw invalidArgument(
      `namespace: ${JSON.stringify(namespace.slice(0, 80))} is not valid; use 1..63 characters of [a-z0-9-] starting with a letter or digit`,
    );
  }
  return namespace;
}

/** The stored key of the saga a request names (namespace and id), validated. */
export function requireSagaKey(req: { namespace?: string | undefined; sagaId: string }): string {
  return sagaKey(requireNamespace(req.namespace), requireSagaId(req.sagaId));
}

export function requireReason(reason: string): string {
  if (reason.length > 512)
    throw invalidArgument(`reason: ${reason.length} characters; at most 512 are allowed`);
  return reason;
}

/**
 * A participant must be a registered name (--participant NAME=HOST:PORT) or,
 * only where direct addresses are allowed (dev, or
 * --allow-direct-participant-addresses), a host:port with a port in 1..65535.
 * Registered names only means callers cannot make the coordinator dial
 * arbitrary hosts (no scanning of the internal network through it).
 */
export function participantProblem(
  participant: string,
  known: ReadonlySet<string>,
  allowDirect = true,
): string | null {
  if (participant === "" || known.has(participant)) return null;
  const names =
    known.size > 0 ? `one of ${[...known].join(", ")}` : "none are registered (--participant NAME=HOST:PORT)";
  const quoted = JSON.stringify(participant.slice(0, 300));
  if (!allowDirect) {
    return `${quoted} is not a registered participant (${names}); this node takes no direct host:port addresses (--allow-direct-participant-addresses)`;
  }
  if (!HOST_PORT.test(participant))
    return `${quoted} is neither a host:port address nor a registered participant name (${names})`;
  const port = Number(participant.slice(participant.lastIndexOf(":") + 1));
  if (port < 1 || port > 65_535) return `${quoted}: port ${port} is not in 1..65535`;
  return null;
}
