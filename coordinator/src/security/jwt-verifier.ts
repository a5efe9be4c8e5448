import { readFileSync } from "node:fs";
import { createLocalJWKSet, createRemoteJWKSet, errors, type JWTVerifyGetKey, jwtVerify } from "jose";
import type { AccessPolicyFile } from "./access-policy.js";

export type JwtVerification = { ok: true; subject: string } | { ok: false; reason: string };

export interface JwtVerifier {
  verify(token: string): Promise<JwtVerification>;
}

/** Verifies bearer JWTs (signature, issuer, audience, expiry) with `jose` against a JWKS file or URL. */
export function jwtVerifier(config: NonNullable<AccessPolicyFile["jwt"]>): JwtVerifier {
  const keys: JWTVerifyGetKey = config.jwksFile
    ? createLocalJWKSet(JSON.parse(readFileSync(config.jwksFile, "utf8")))
    : createRemoteJWKSet(new URL(config.jwksUrl as string));
  return {
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, keys, {
          issuer: config.issuer,
          audience: config.audience,
        });
        if (!payload.sub) return { ok: false, reason: 'it has no "sub" claim' };
        return { ok: true, subject: payload.sub };
      } catch (err) {
        if (err instanceof errors.JOSEError) return { ok: false, reason: err.message };
        throw err;
      }
    },
  };
}
