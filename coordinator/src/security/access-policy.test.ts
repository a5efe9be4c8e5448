import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { AccessPolicy, AccessPolicyError } from "./access-policy.js";
import { isGuarded, roleAllows } from "./roles.js";

const sha = (token: string) => createHash("sha256").update(token).digest("hex");
const dir = mkdtempSync(path.join(tmpdir(), "policy-"));
function policyFile(content: string): string {
  const file = path.join(dir, `p${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, content);
  return file;
}

describe("roles", () => {
  const m = (service: string, method: string) => `/saga.v1.${service}/${method}`;
  it.each([
    ["reader", m("CoordinatorService", "GetSaga"), true],
    ["reader", m("CoordinatorService", "WatchSaga"), true],
    ["reader", m("CoordinatorService", "StartSaga"), false],
    ["reader", m("CoordinatorService", "CancelSaga"), false],
    ["client", m("CoordinatorService", "StartSaga"), true],
    ["client", m("CoordinatorService", "CancelSaga"), true],
    ["client", m("CoordinatorService", "ListSagas"), true],
    ["client", m("AdminService", "ResumeSaga"), false],
    ["client", m("AdminService", "GetClusterStatus"), false],
    ["admin", m("AdminService", "ResumeSaga"), true],
    ["admin", m("CoordinatorService", "StartSaga"), true],
    ["node", m("AdminService", "GetClusterStatus"), true],
    ["admin", m("ParticipantService", "Execute"), false],
  ] as const)("%s on %s: %s", (role, method, allowed) => {
    expect(roleAllows([role], method)).toBe(allowed);
  });

  it("guards only the coordinator and admin services", () => {
    expect(isGuarded("/saga.v1.CoordinatorService/GetSaga")).toBe(true);
    expect(isGuarded("/saga.v1.AdminService/ResumeSaga")).toBe(true);
    expect(isGuarded("/grpc.health.v1.Health/Check")).toBe(false);
  });
});

describe("AccessPolicy", () => {
  it("maps a static token to its identity only by its exact value, and identities to their roles", () => {
    const policy = AccessPolicy.load(
      policyFile(`
tokens:
  - { name: orders, sha256: ${sha("s3cret-orders")} }
grants:
  - identities: ["token:orders", "cert:orders.internal"]
    roles: [client]
  - identities: ["cert:orders.internal"]
    roles: [reader]
`),
    );
    expect(policy.tokenIdentity("s3cret-orders")).toBe("token:orders");
    expect(policy.tokenIdentity("s3cret-order")).toBeNull();
    expect([...policy.rolesOf(["cert:orders.internal"])].sort()).toEqual(["client", "reader"]);
    expect([...policy.rolesOf(["token:nobody"])]).toEqual([]);
  });

  it('scopes roles to the namespaces of their grant; "*" covers all, and no namespaces means default', () => {
    const policy = AccessPolicy.load(
      policyFile(`
grants:
  - { identities: ["token:a"], roles: [client], namespaces: [team-a] }
  - { identities: ["token:a"], roles: [reader] }
  - { identities: ["token:ops"], roles: [admin], namespaces: ["*"] }
`),
    );
    expect([...policy.rolesOf(["token:a"], "team-a")]).toEqual(["client"]);
    expect([...policy.rolesOf(["token:a"], "default")]).toEqual(["reader"]);
    expect([...policy.rolesOf(["token:a"], "team-b")]).toEqual([]);
    expect([...policy.rolesOf(["token:ops"], "anything")]).toEqual(["admin"]);
    expect([...policy.rolesOf(["token:a"])].sort()).toEqual(["client", "reader"]);
  });

  it.each([
    ["not YAML", "grants: [", /^auth policy \S+: /],
    ["no grants", "tokens: []\ngrants: []", /grants: at least one grant/],
    [
      "a plaintext token",
      "tokens: [{ name: a, sha256: hunter2 }]\ngrants: [{ identities: ['token:a'], roles: [client] }]",
      /tokens.0.sha256: must be the token's SHA-256/,
    ],
    [
      "an unknown role",
      "grants: [{ identities: ['token:a'], roles: [root] }]",
      /grants.0.roles.0: Invalid option/,
    ],
    [
      "an identity without a kind",
      "grants: [{ identities: ['orders'], roles: [client] }]",
      /grants.0.identities.0: must be "cert:<name>"/,
    ],
    [
      "an unknown field",
      "grants: [{ identities: ['token:a'], roles: [client], namespace: x }]",
      /grants.0: Unrecognized key/,
    ],
    [
      "two JWKS sources",
      "jwt: { jwksFile: a, jwksUrl: 'https://x/jwks', issuer: i, audience: a }\ngrants: [{ identities: ['jwt:a'], roles: [client] }]",
      /jwt: give exactly one of jwksFile or jwksUrl/,
    ],
  ])("refuses a policy with %s, naming the field", (_what, content, message) => {
    const file = policyFile(content);
    expect(() => AccessPolicy.load(file)).toThrow(AccessPolicyError);
    expect(() => AccessPolicy.load(file)).toThrow(message);
  });

  it("refuses a token name listed twice", () => {
    const file = policyFile(
      `tokens: [{ name: a, sha256: ${sha("1")} }, { name: a, sha256: ${sha("2")} }]\ngrants: [{ identities: ['token:a'], roles: [client] }]`,
    );
    expect(() => AccessPolicy.load(file)).toThrow('tokens: "a" is listed twice');
  });
});

describe("the example policy in deploy/production", () => {
  it("is valid", () => {
    const file = path.resolve(import.meta.dirname, "../../../deploy/production/auth-policy.yaml");
    const policy = AccessPolicy.load(file);
    expect(policy.tokenIdentity("change-me")).toBe("token:orders-service");
    expect([...policy.rolesOf(["cert:saga-coordinator.saga-coordinator.svc"])]).toEqual(["node"]);
  });
});
