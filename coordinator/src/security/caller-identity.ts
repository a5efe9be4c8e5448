import type { Metadata } from "@grpc/grpc-js";
import { type AuthContextSource, peerIdentities } from "@saga-coordinator/participant-sdk";
import type { AccessPolicy } from "./access-policy.js";
import type { JwtVerifier } from "./jwt-verifier.js";

/** Who the caller proved to be, or why that proof was refused. */
export type CallerIdentity = { ok: true; identities: string[] } | { ok: false; reason: string };

const BEARER = /^Bearer\s+(\S+)$/i;

/**
 * The identities of a call: `cert:<name>` for each name of a verified client
 * certificate, plus `token:<name>` or `jwt:<sub>` for a valid bearer token.
 * A bearer token that is present but not valid refuses the call, even with
 * a certificate: a wrong token is a mistake worth reporting, not ignoring.
 */
export async function callerIdentity(
  call: AuthContextSource,
  metadata: Metadata,
  policy: AccessPolicy,
  jwt: JwtVerifier | null,
): Promise<CallerIdentity> {
  const identities = peerIdentities(call).map((name) => `cert:${name}`);
  const header = metadata.get("authorization");
  if (header.length > 1) return { ok: false, reason: "more than one authorization header" };
  if (header.length === 1) {
    const match = BEARER.exec(String(header[0]));
    if (!match?.[1]) return { ok: false, reason: 'the authorization header must be "Bearer <token>"' };
    const token = match[1];
    const looksLikeJwt = token.split(".").length === 3;
    if (looksLikeJwt && jwt) {
      const verified = await jwt.verify(token);
      if (!verified.ok) return { ok: false, reason: `bearer JWT refused: ${verified.reason}` };
      identities.push(`jwt:${verified.subject}`);
    } else {
      const named = policy.tokenIdentity(token);
      if (!named) return { ok: false, reason: "bearer token not recognised" };
      identities.push(named);
    }
  }
  if (identities.length === 0) {
    return {
      ok: false,
      reason:
        'no credentials: present a client certificate (mTLS) or an "authorization: Bearer <token>" header',
    };
  }
  return { ok: true, identities };
}
