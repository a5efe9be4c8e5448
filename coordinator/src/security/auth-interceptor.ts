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
import type { AccessPolicy } from "./access-policy.js";
import { callerIdentity } from "./caller-identity.js";
import type { JwtVerifier } from "./jwt-verifier.js";
import { isGuarded, ROLES, roleAllows } from "./roles.js";

type Decision = { code: status; details: string } | null;

/**
 * Authenticates and authorizes every call of the coordinator and admin
 * services before its handler sees anything: the request is not read until
 * the caller is known and allowed (UNAUTHENTICATED / PERMISSION_DENIED with
 * what is missing otherwise). Health and reflection stay open.
 */
export function authInterceptor(
  policy: AccessPolicy,
  jwt: JwtVerifier | null,
  logger: Logger,
): ServerInterceptor {
  return (method, call) => {
    if (!isGuarded(method.path)) return new ServerInterceptingCall(call);
    const listener = new ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        decide(method.path, call, metadata, policy, jwt).then(
          (denied) => {
            if (!denied) return next(metadata);
            logger.warn(
              { method: method.path, peer: call.getPeer(), code: status[denied.code] },
              denied.details,
            );
            call.sendStatus({ ...denied });
          },
          (err: unknown) => {
            logger.error({ err, method: method.path }, "authentication failed");
            call.sendStatus({
              code: status.UNAVAILABLE,
              details: "authentication is unavailable; retry shortly",
            });
          },
        );
      })
      .build();
    return new ServerInterceptingCall(
      call,
      new ResponderBuilder().withStart((next) => next(listener)).build(),
    );
  };
}

async function decide(
  method: string,
  call: ServerInterceptingCallInterface,
  metadata: Metadata,
  policy: AccessPolicy,
  jwt: JwtVerifier | null,
): Promise<Decision> {
  const caller = await callerIdentity(call, metadata, policy, jwt);
  if (!caller.ok) return { code: status.UNAUTHENTICATED, details: caller.reason };
  const roles = policy.rolesOf(caller.identities);
  if (roleAllows(roles, method)) return null;
  const name = method.slice(method.lastIndexOf("/") + 1);
  const needed = ROLES.filter((r) => roleAllows([r], method)).join(" or ");
  const has = roles.size > 0 ? `roles ${[...roles].join(", ")}` : "no role";
  return {
    code: status.PERMISSION_DENIED,
    details: `${caller.identities.join(", ")} (${has}) may not call ${name}: it needs the ${needed} role`,
  };
}
