import { type DestinationStream, type Logger, type LoggerOptions, pino } from "pino";

// Credentials in URIs (mongodb://user:password@host, http://root:secret@etcd)
// must never reach a log line or an error printed at exit. Driver errors
// quote the URI they were given, so error messages and stacks are scrubbed
// too, not only the configuration.

const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi;
/** grpc's own form of a target, "dns:user:password@host:port". */
const GRPC_TARGET_USERINFO = /\b(dns:)[^\s/@]+@/gi;

/** `text` with the user:password part of every URI replaced by `***`. */
export function redactSecrets(text: string): string {
  return text.replace(USERINFO, "$1***@").replace(GRPC_TARGET_USERINFO, "$1***@");
}

function redactError(err: unknown): unknown {
  const serialized = pino.stdSerializers.err(err as Error) as unknown as Record<string, unknown>;
  for (const field of ["message", "stack"]) {
    const value = serialized[field];
    if (typeof value === "string") serialized[field] = redactSecrets(value);
  }
  return serialized;
}

/** A pino logger whose errors and string fields never carry URI credentials. */
export function redactingLogger(options: LoggerOptions, destination?: DestinationStream): Logger {
  const settings: LoggerOptions = {
    ...options,
    serializers: { ...options.serializers, err: redactError, error: redactError },
    hooks: {
      // The message itself, and string arguments formatted into it.
      logMethod(args, method) {
        method.apply(
          this,
          args.map((a) => (typeof a === "string" ? redactSecrets(a) : a)) as Parameters<typeof method>,
        );
      },
    },
  };
  return destination ? pino(settings, destination) : pino(settings);
}
