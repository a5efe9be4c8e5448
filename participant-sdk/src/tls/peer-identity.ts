import type { PeerCertificate } from "node:tls";

/** Anything that can tell who is on the other end of a call (grpc-js server calls can). */
export interface AuthContextSource {
  getAuthContext(): { sslPeerCertificate?: PeerCertificate } | null;
}

/**
 * The identities a verified client certificate proves: its subject CN and each
 * DNS, URI (e.g. a SPIFFE id) and IP subject alternative name, in that order.
 * Empty without a client certificate (plaintext, or TLS without one).
 */
export function peerIdentities(call: AuthContextSource): string[] {
  const cert = call.getAuthContext()?.sslPeerCertificate;
  if (!cert || Object.keys(cert).length === 0) return [];
  const names: string[] = [];
  const cn = cert.subject?.CN;
  if (typeof cn === "string" && cn) names.push(cn);
  for (const entry of (cert.subjectaltname ?? "").split(",")) {
    const match = /^\s*(DNS|URI|IP Address):(.+)$/.exec(entry);
    if (match?.[2] && !names.includes(match[2].trim())) names.push(match[2].trim());
  }
  return names;
}
