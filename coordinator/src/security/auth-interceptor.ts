import {
  type Metadata,
  ResponderBuilder,
  ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  ServerListenerBuilder,
  status,
} from "@grpc/grpc-js";
import type { Logger } from "pino";
import { FORWARDED_HEADER } from "../api/request-router.js";
import { DEFAULT_NAMESPACE } from "../store/saga-key.js";
import type { AccessPolicy } from "./access-policy.js";
import { callerIdentity } from "./caller-identity.js";
import type { JwtVerifier } from "./jwt-verifier.js";
import { isGuarded, isNamespaced, ROLES, roleAllows } from "./roles.js";

type Denial = { code: status; details: string };

/** Metadata key under which the interceptor hands the caller's identity to the handlers. */
export const CALLER_HEADER = "x-saga-authenticated-caller";

/**
 * Authenticates and authorizes every call of the coordinator and admin
 * services before its handler sees anything. The caller is authenticated from
 * the call's metadata and certificate; the request is not read until that
 * succeeds. The request message then names the namespace, and the caller's
 * grants must give a role allowing the method there. Otherwise the call ends
 * UNAUTHENTICATED or PERMISSION_DENIED saying what is missing. Health and
 * reflection stay open.
 */
export function authInterceptor(
  policy: AccessPolicy,
  jwt: JwtVerifier | null,
  logger: Logger,
): ServerInterceptor {
  return (method, call) => {
    const path = method.path;
    if (!isGuarded(path)) return new ServerInterceptingCall(call);
    let identities: string[] = [];
    const deny = (denied: Denial) => {
      logger.warn(
        { method: path, peer: call.getPeer(), code: status[denied.code], identities },
        denied.details,
      );
      call.sendStatus({ ...denied });
    };
    const listener = new ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        metadata.remove(CALLER_HEADER);
        authenticate(path, call, metadata, policy, jwt).then(
          (outcome) => {
            if ("code" in outcome) return deny(outcome);
            identities = outcome.identities;
            // Handlers read who is calling from here (e.g. per-caller limits); never from the client.
            metadata.set(CALLER_HEADER, identities[0] ?? "");
            // Only another node may say a request was forwarded (it then skips per-caller limits and routing).
            if (!policy.rolesOf(identities).has("node")) metadata.remove(FORWARDED_HEADER);
            next(metadata);
          },
          (err: unknown) => {
            logger.error({ err, method: path }, "authentication failed");
            call.sendStatus({
              code: status.UNAVAILABLE,
              details: "authentication is unavailable; retry shortly",
            });
          },
        );
      })
      .withOnReceiveMessage((message, next) => {
        const denied = isNamespaced(path) ? authorizeNamespace(path, identities, message, policy) : null;
        if (denied) deny(denied);
        else next(message);
      })
      .build();
    return new ServerInterceptingCall(
      call,
      new ResponderBuilder().withStart((next) => next(listener)).build(),
    );
  };
}

/** Who the caller is, refused when it proves nobody or holds no role that allows the method anywhere. */
async function authenticate(
  method: string,
  call: ServerInterceptingCallInterface,
  metadata: Metadata,
  policy: AccessPolicy,
  jwt: JwtVerifier | null,
): Promise<Denial | { identities: string[] }> {
  const caller = await callerIdentity(call, metadata, policy, jwt);
  if (!caller.ok) return { code: status.UNAUTHENTICATED, details: caller.reason };
  const roles = policy.rolesOf(caller.identities);
  if (roleAllows(roles, method)) return { identities: caller.identities };
  return denial(caller.identities, roles, method, null);
}

function authorizeNamespace(
  method: string,
  identities: string[],
  message: unknown,
  policy: AccessPolicy,
): Denial | null {
  const requested = (message as { namespace?: unknown } | null)?.namespace;
  const namespace = typeof requested === "string" && requested !== "" ? requested : DEFAULT_NAMESPACE;
  const roles = policy.rolesOf(identities, namespace);
  return roleAllows(roles, method) ? null : denial(identities, roles, method, namespace);
}

function denial(identities: string[], roles: Set<string>, method: string, namespace: string | null): Denial {
  const name = method.slice(method.lastIndexOf("/") + 1);
  const needed = ROLES.filter((r) => roleAllows([r], method)).join(" or ");
  const where = namespace === null ? "" : ` in namespace ${JSON.stringify(namespace.slice(0, 80))}`;
  const has = roles.size > 0 ? `roles ${[...roles].join(", ")}` : "no role";
  return {
    code: status.PERMISSION_DENIED,
    details: `${identities.join(", ")} (${has}${where}) may not call ${name}: it needs the ${needed} role${namespace === null ? "" : " there"}`,
  };
}
