import {
  ResponderBuilder,
  ServerInterceptingCall,
  type ServerInterceptor,
  ServerListenerBuilder,
  type ServiceDefinition,
  status,
} from "@grpc/grpc-js";

/** A request body the generated decoder refused (e.g. a uint64 beyond 2^53), kept as a value so no INTERNAL escapes. */
export class UndecodableRequest {
  constructor(readonly reason: string) {}
}

/**
 * The service with decoders that never throw: grpc-js answers a throwing
 * decoder with INTERNAL "Error deserializing request", which tells a client
 * nothing and reads as a server fault. The failure is passed on as an
 * UndecodableRequest for `rejectUndecodable` to refuse with INVALID_ARGUMENT.
 */
export function guardDecoding<S extends ServiceDefinition>(service: S): S {
  const guarded: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(service)) {
    guarded[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return method.requestDeserialize(bytes);
        } catch (err) {
          return new UndecodableRequest(err instanceof Error ? err.message : String(err));
        }
      },
    };
  }
  return guarded as S;
}

/** Ends a call whose request could not be decoded with INVALID_ARGUMENT saying why. */
export const rejectUndecodable: ServerInterceptor = (method, call) => {
  const listener = new ServerListenerBuilder()
    .withOnReceiveMessage((message, next) => {
      if (!(message instanceof UndecodableRequest)) return next(message);
      call.sendStatus({
        code: status.INVALID_ARGUMENT,
        details: `the request is not a valid ${method.path} message: ${message.reason} (strings must be valid UTF-8, 64-bit integers at most 2^53-1)`,
      });
    })
    .build();
  return new ServerInterceptingCall(call, new ResponderBuilder().withStart((next) => next(listener)).build());
};
