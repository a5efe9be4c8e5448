import { z } from "zod";

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, "must be HOST:PORT, e.g. 127.0.0.1:50051");
const int = (min: number, max: number) =>
  z.coerce
    .number()
    .int(`must be a whole number`)
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);

const file = z.string().min(1, "must be a file path");

const participants = z
  .array(
    z.string().regex(/^[A-Za-z0-9._-]+=.+:\d{1,5}$/, "must be NAME=HOST:PORT, e.g. payment=10.0.0.7:7001"),
  )
  .transform((list) => Object.fromEntries(list.map((p) => p.split("=", 2) as [string, string])));

/** Every knob of a node. Keys are the flag names, so a validation error names the flag. */
export const coordinatorConfigSchema = z.object({
  mode: z.enum(["dev", "start"]),
  listen: hostPort,
  advertise: hostPort.optional(),
  "metrics-listen": hostPort.optional(),
  "log-level": z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]),
  participant: participants,
  "max-steps": int(1, 10_000),
  "max-payload-bytes": int(1, 16 * 1024 * 1024),
  "max-labels": int(0, 1000),
  "poll-interval-ms": int(10, 60_000),
  "lost-call-grace-ms": int(0, 3_600_000),
  partitions: int(1, 65_536),
  "mongodb-uri": z
    .string()
    .regex(/^mongodb(\+srv)?:\/\//, "must be a mongodb:// or mongodb+srv:// URI")
    .optional(),
  "mongodb-database": z.string().regex(/^[A-Za-z0-9_-]{1,63}$/, "must be 1..63 characters of [A-Za-z0-9_-]"),
  "etcd-endpoints": z
    .string()
    .transform((s) =>
      s
        .split(",")
        .map((e) => e.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().url("must be a comma-separated list of http(s)://HOST:PORT URLs")))
    .optional(),
  "etcd-prefix": z
    .string()
    .regex(/^\/[\w./-]*$/, "must be a key path starting with /, e.g. /saga-coordinator/prod"),
  "node-id": z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "must be 1..64 characters of [A-Za-z0-9._-]"),
  "lease-ttl-seconds": int(2, 300),
  "drain-timeout-ms": int(0, 600_000),
  // Defaults here too, so programmatic callers (tests, the benchmark) may leave them out.
  "store-unavailable-ms": int(1000, 3_600_000).default(10_000),
  "store-flush-delay-ms": int(0, 1000).default(0),
  "store-max-batch": int(1, 10_000).default(32),
  "retain-finished": int(0, 100_000_000).default(10_000),
  "max-inflight-calls": int(1, 1_000_000).default(2_000),
  "max-inflight-calls-per-participant": int(1, 1_000_000).default(500),
  "max-cached-sagas": int(0, 10_000_000).default(10_000),
  "tls-cert": file.optional(),
  "tls-key": file.optional(),
  "tls-ca": file.optional(),
  "tls-require-client-cert": z.boolean().default(false),
  "participant-tls": z.boolean().default(false),
  "participant-tls-ca": file.optional(),
  "participant-tls-cert": file.optional(),
  "participant-tls-key": file.optional(),
  "tls-refresh-ms": int(1000, 86_400_000).default(60_000),
  "auth-policy": file.optional(),
  "max-watch-streams": int(1, 1_000_000).default(10_000),
  "max-attempts-per-saga": int(1, 1_000_000).default(10_000),
  "min-backoff-ms": int(1, 60_000).default(10),
  "max-output-bytes": int(0, 16 * 1024 * 1024).default(1024 * 1024),
  // Well under MongoDB's 16 MiB per document, which also holds the history.
  "max-saga-bytes": int(1024, 15 * 1024 * 1024).default(8 * 1024 * 1024),
  "max-watch-streams-per-caller": int(1, 1_000_000).default(1_000),
  "etcd-ca": file.optional(),
  "etcd-cert": file.optional(),
  "etcd-key": file.optional(),
  "etcd-username": z.string().min(1).max(128).optional(),
  "etcd-password-file": file.optional(),
  /** Default: on in dev, off in start. */
  "allow-direct-participant-addresses": z.boolean().optional(),
  "participants-file": file.optional(),
  /** Not a flag: a user and password found in --etcd-endpoints (see withEtcdUrlCredentials). */
  "etcd-url-login": z.object({ username: z.string(), password: z.string() }).optional(),
  demo: z.boolean(),
});

export type CoordinatorConfig = z.infer<typeof coordinatorConfigSchema>;

/** Validates raw flag values; the error lists each bad flag as "--flag: problem". */
export function parseCoordinatorConfig(raw: Record<string, unknown>): CoordinatorConfig {
  const result = coordinatorConfigSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `--${String(i.path[0] ?? "?")}: ${i.message}`);
    throw new ConfigError(lines.join("\n"));
  }
  const config = withEtcdUrlCredentials(result.data);
  if (config.mode === "start" && !config["mongodb-uri"]) {
    throw new ConfigError("--mongodb-uri: is required in start mode (env SAGA_MONGODB_URI)");
  }
  const tlsProblem = tlsConfigProblem(config);
  if (tlsProblem) throw new ConfigError(tlsProblem);
  return config;
}

export class ConfigError extends Error {}

/**
 * `http://user:password@host:2379` in --etcd-endpoints: the user and password
 * become the etcd login (unless --etcd-username is given) and leave the URL,
 * which the etcd client quotes in its errors.
 */
function withEtcdUrlCredentials(config: CoordinatorConfig): CoordinatorConfig {
  const endpoints = config["etcd-endpoints"];
  if (!endpoints) return config;
  let login: { username: string; password: string } | undefined;
  const clean = endpoints.map((endpoint) => {
    const url = new URL(endpoint);
    if (!url.username && !url.password) return endpoint;
    login ??= { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
    url.username = "";
    url.password = "";
    return url.toString().replace(/\/$/, "");
  });
  return { ...config, "etcd-endpoints": clean, ...(login ? { "etcd-url-login": login } : {}) };
}

/** TLS flags that only make sense together. */
function tlsConfigProblem(config: CoordinatorConfig): string | null {
  if (Boolean(config["tls-cert"]) !== Boolean(config["tls-key"]))
    return "--tls-cert, --tls-key: give both (the server certificate and its private key) or neither";
  if (config["tls-require-client-cert"] && !(config["tls-cert"] && config["tls-ca"]))
    return "--tls-require-client-cert: needs --tls-cert, --tls-key and --tls-ca (the CA that signs client certificates)";
  if (config["tls-ca"] && !config["tls-cert"])
    return "--tls-ca: client certificates are only verified over TLS; add --tls-cert and --tls-key";
  if (Boolean(config["etcd-cert"]) !== Boolean(config["etcd-key"]))
    return "--etcd-cert, --etcd-key: give both or neither";
  if (config["etcd-cert"] && !config["etcd-ca"])
    return "--etcd-cert: a client certificate for etcd needs --etcd-ca (TLS to etcd)";
  if (Boolean(config["participant-tls-cert"]) !== Boolean(config["participant-tls-key"]))
    return "--participant-tls-cert, --participant-tls-key: give both or neither";
  return null;
}
