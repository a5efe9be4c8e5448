import { type ChannelCredentials, credentials, type ServerCredentials } from "@grpc/grpc-js";
import { tlsChannelCredentials, tlsServerCredentials } from "@saga-coordinator/participant-sdk";
import type { CoordinatorConfig } from "../config/coordinator-config.js";
import type { ParticipantRegistry } from "../config/participant-registry.js";
import type { ParticipantChannel } from "../transport/grpc-participant-transport.js";

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
  const participantIdentity = nodeParticipantIdentity(config);
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

/** The client certificate a node shows participants: --participant-tls-cert, else its own. */
function nodeParticipantIdentity(config: CoordinatorConfig): { cert?: string; key?: string } {
  return config["participant-tls-cert"]
    ? { cert: config["participant-tls-cert"], key: config["participant-tls-key"] }
    : { cert: config["tls-cert"], key: config["tls-key"] };
}

/**
 * Channels of registered participants with TLS settings of their own, by
 * address: what an entry leaves out comes from the node's participant TLS flags.
 */
export function registeredParticipantChannels(
  config: CoordinatorConfig,
  registry: ParticipantRegistry,
): Map<string, ParticipantChannel> {
  const identity = nodeParticipantIdentity(config);
  const channels = new Map<string, ParticipantChannel>();
  for (const { address, tls } of registry.entries) {
    if (tls === undefined || channels.has(address)) continue;
    if (tls === false) {
      channels.set(address, { credentials: credentials.createInsecure() });
      continue;
    }
    const files = tls.cert
      ? { cert: tls.cert, key: tls.key, ca: tls.ca ?? config["participant-tls-ca"] }
      : { ...identity, ca: tls.ca ?? config["participant-tls-ca"] };
    channels.set(address, {
      credentials: tlsChannelCredentials(true, files, config["tls-refresh-ms"]),
      serverName: tls.serverName,
    });
  }
  return channels;
}
