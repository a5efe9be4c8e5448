import { createHash, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { readValidatedFile } from "../config/validated-file.js";
import { NAMESPACE_PATTERN } from "../store/saga-key.js";
import { ROLES, type Role } from "./roles.js";

/**
 * Who may do what, from a policy file (YAML or JSON), validated at start.
 *
 * Callers are named by how they proved who they are:
 * - `cert:<name>`: a verified client certificate's CN or a DNS/URI/IP SAN (mTLS);
 * - `token:<name>`: a static API token, stored in the file only as its SHA-256;
 * - `jwt:<sub>`: a bearer JWT verified against the configured keys.
 */
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "must be the token's SHA-256, 64 lowercase hex digits");
const identityName = z
  .string()
  .regex(/^(cert|token|jwt):.+$/, 'must be "cert:<name>", "token:<name>" or "jwt:<subject>"');

export const accessPolicySchema = z
  .object({
    tokens: z
      .array(
        z
          .object({
            name: z.string().regex(/^[\w.@-]{1,128}$/, "must be 1..128 of [A-Za-z0-9_.@-]"),
            sha256: sha256Hex,
          })
          .strict(),
      )
      .default([]),
    jwt: z
      .object({
        jwksFile: z.string().min(1).optional(),
        jwksUrl: z.string().url().optional(),
        issuer: z.string().min(1),
        audience: z.string().min(1),
      })
      .strict()
      .refine((j) => Boolean(j.jwksFile) !== Boolean(j.jwksUrl), "give exactly one of jwksFile or jwksUrl")
      .optional(),
    grants: z
      .array(
        z
          .object({
            identities: z.array(identityName).min(1),
            roles: z.array(z.enum(ROLES)).min(1),
            namespaces: z
              .array(
                z
                  .string()
                  .refine(
                    (ns) => ns === "*" || NAMESPACE_PATTERN.test(ns),
                    'must be a namespace ([a-z0-9-], 1..63) or "*" for all',
                  ),
              )
              .min(1)
              .default(["default"]),
          })
          .strict(),
      )
      .min(1, "at least one grant, or nobody can call"),
  })
  .strict();

export type AccessPolicyFile = z.infer<typeof accessPolicySchema>;

export class AccessPolicyError extends Error {}

export class AccessPolicy {
  private readonly tokens: { name: string; digest: Buffer }[];
  private readonly grants: { identities: Set<string>; roles: Role[]; namespaces: Set<string> }[];

  constructor(readonly file: AccessPolicyFile) {
    const names = new Set<string>();
    for (const t of file.tokens) {
      if (names.has(t.name)) throw new AccessPolicyError(`tokens: "${t.name}" is listed twice`);
      names.add(t.name);
    }
    this.tokens = file.tokens.map((t) => ({ name: t.name, digest: Buffer.from(t.sha256, "hex") }));
    this.grants = file.grants.map((g) => ({
      identities: new Set(g.identities),
      roles: g.roles,
      namespaces: new Set(g.namespaces),
    }));
  }

  /** Reads and validates a policy file; the error names the file and each bad field. */
  static load(path: string): AccessPolicy {
    const file = readValidatedFile(path, accessPolicySchema, "auth policy", (m) => new AccessPolicyError(m));
    return new AccessPolicy(file);
  }

  /** The `token:<name>` identity of a static API token, or null when no token matches. */
  tokenIdentity(token: string): string | null {
    const digest = createHash("sha256").update(token).digest();
    let found: string | null = null;
    // Compare against every token in constant time, so timing tells nothing of which one is close.
    for (const t of this.tokens) if (timingSafeEqual(t.digest, digest)) found = `token:${t.name}`;
    return found;
  }

  /**
   * Every role granted to any of the caller's identities in `namespace`
   * (a grant for "*" covers all); in any namespace when `namespace` is undefined.
   */
  rolesOf(identities: readonly string[], namespace?: string): Set<Role> {
    const roles = new Set<Role>();
    for (const grant of this.grants) {
      if (!identities.some((id) => grant.identities.has(id))) continue;
      if (namespace !== undefined && !grant.namespaces.has("*") && !grant.namespaces.has(namespace)) continue;
      for (const role of grant.roles) roles.add(role);
    }
    return roles;
  }
}
