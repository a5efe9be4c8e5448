import type { ChannelCredentials, ServerCredentials } from "@grpc/grpc-js";
import { tlsChannelCredentials, tlsServerCredentials } from "@saga-coordinator/participant-sdk";
import type { CoordinatorConfig } from "../config/coordinator-config.js";

/** The credentials of each hop a node serves or dials, from its TLS flags. */
export interface NodeCredentials {
  /** Client and admin APIs (and forwarded requests from other nodes). */
  server: ServerCredentials;
  /** Calls to participants. */
  participants: ChannelCredentials;
  /** Forwarding to the owner node: TLS when this node serves TLS, with its certificate as client identity. */
  peers: ChannelCredentials;
}

export function nodeCredentials(config: CoordinatorConfig): NodeCredentials {
  const refreshMs = config["tls-refresh-ms"];
  const own = { cert: config["tls-cert"], key: config["tls-key"] };
  const participantIdentity = config["participant-tls-cert"]
    ? { cert: config["participant-tls-cert"], key: config["participant-tls-key"] }
    : own;
  const participantTls = config["participant-tls"] || Boolean(config["participant-tls-ca"]);
  return {
    server: tlsServerCredentials(
      { ...own, ca: config["tls-ca"] },
      config["tls-require-client-cert"],
      refreshMs,
    ),
    participants: tlsChannelCredentials(
      participantTls,
      { ...participantIdentity, ca: config["participant-tls-ca"] },
      refreshMs,
    ),
    peers: tlsChannelCredentials(Boolean(own.cert), { ...own, ca: config["tls-ca"] }, refreshMs),
  };
}
