#!/usr/bin/env node
import { hostname } from "node:os";
import { reloadTlsCertificates } from "@saga-coordinator/participant-sdk";
import { Command, Option } from "commander";
import { ConfigError, parseCoordinatorConfig } from "../config/coordinator-config.js";
import { startCoordinatorNode } from "../node/coordinator-node.js";
import { redactingLogger, redactSecrets } from "../observability/redact-secrets.js";
import { runDevDemo } from "./dev-demo.js";

// The saga-coordinator executable. Every flag has an environment variable;
// values are validated with zod and a bad one stops the process with a
// message naming the flag.

/** Repeatable flag; the env form is comma-separated, and commas split flag values too. */
const collect = (value: string, previous: string[] = []) => [
  ...previous,
  ...value
    .split(",")
    .map((v) => v.trim())
    .filter(Boolean),
];

function commonOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option("--listen <host:port>", "address to serve gRPC on")
        .env("SAGA_LISTEN")
        .default("127.0.0.1:50051"),
    )
    .addOption(
      new Option(
        "--advertise <host:port>",
        "address other nodes and clients reach this node at (default: --listen)",
      ).env("SAGA_ADVERTISE"),
    )
    .addOption(
      new Option(
        "--metrics-listen <host:port>",
        "serve Prometheus metrics at http://HOST:PORT/metrics (off when unset)",
      ).env("SAGA_METRICS_LISTEN"),
    )
    .addOption(
      new Option("--log-level <level>", "trace|debug|info|warn|error|fatal|silent")
        .env("SAGA_LOG_LEVEL")
        .default("info"),
    )
    .addOption(
      new Option(
        "--participant <name=host:port>",
        "logical participant name (repeatable; env: comma-separated)",
      )
        .env("SAGA_PARTICIPANTS")
        .argParser(collect),
    )
    .addOption(new Option("--max-steps <n>", "steps per saga").env("SAGA_MAX_STEPS").default("100"))
    .addOption(
      new Option("--max-payload-bytes <n>", "bytes per step payload")
        .env("SAGA_MAX_PAYLOAD_BYTES")
        .default("1048576"),
    )
    .addOption(new Option("--max-labels <n>", "labels per saga").env("SAGA_MAX_LABELS").default("16"))
    .addOption(
      new Option(
        "--poll-interval-ms <ms>",
        "how often the store is scanned for due sagas not woken from memory",
      )
        .env("SAGA_POLL_INTERVAL_MS")
        .default("2000"),
    )
    .addOption(
      new Option(
        "--lost-call-grace-ms <ms>",
        "grace past a step timeout before an unanswered call is re-sent",
      )
        .env("SAGA_LOST_CALL_GRACE_MS")
        .default("5000"),
    )
    .addOption(
      new Option("--partitions <n>", "fixed partition count (same on every node)")
        .env("SAGA_PARTITIONS")
        .default("256"),
    )
    .addOption(new Option("--mongodb-uri <uri>", "MongoDB connection string").env("SAGA_MONGODB_URI"))
    .addOption(
      new Option("--mongodb-database <name>", "database name").env("SAGA_MONGODB_DATABASE").default("saga"),
    )
    .addOption(
      new Option("--etcd-endpoints <urls>", "comma-separated etcd URLs; unset = single node").env(
        "SAGA_ETCD_ENDPOINTS",
      ),
    )
    .addOption(
      new Option("--etcd-prefix <path>", "etcd key prefix of this cluster")
        .env("SAGA_ETCD_PREFIX")
        .default("/saga-coordinator/default"),
    )
    .addOption(
      new Option("--node-id <id>", "this node's id")
        .env("SAGA_NODE_ID")
        .default(`${hostname()}-${process.pid}`.replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 64)),
    )
    .addOption(
      new Option("--lease-ttl-seconds <s>", "etcd lease TTL").env("SAGA_LEASE_TTL_SECONDS").default("5"),
    )
    .addOption(
      new Option("--drain-timeout-ms <ms>", "how long SIGTERM waits for open calls")
        .env("SAGA_DRAIN_TIMEOUT_MS")
        .default("10000"),
    )
    .addOption(
      new Option(
        "--store-unavailable-ms <ms>",
        "cluster: a node whose store has not answered for this long gives its partitions up until it does",
      )
        .env("SAGA_STORE_UNAVAILABLE_MS")
        .default("10000"),
    )
    .addOption(
      new Option(
        "--store-flush-delay-ms <ms>",
        "group commit: how long a write waits for others before a flush when none is in flight (0 = end of the event-loop turn)",
      )
        .env("SAGA_STORE_FLUSH_DELAY_MS")
        .default("0"),
    )
    .addOption(
      new Option("--store-max-batch <n>", "group commit: most saga writes per store round trip")
        .env("SAGA_STORE_MAX_BATCH")
        .default("32"),
    )
    .addOption(
      new Option(
        "--retain-finished <n>",
        "in-memory store (dev): finished sagas kept for reads; older ones are forgotten",
      )
        .env("SAGA_RETAIN_FINISHED")
        .default("10000"),
    )
    .addOption(
      new Option(
        "--max-inflight-calls <n>",
        "participant calls this node sends at once; more wait in a queue (their dispatch is already durable)",
      )
        .env("SAGA_MAX_INFLIGHT_CALLS")
        .default("2000"),
    )
    .addOption(
      new Option(
        "--max-inflight-calls-per-participant <n>",
        "of those, calls to any one participant (a slow one cannot take every slot)",
      )
        .env("SAGA_MAX_INFLIGHT_CALLS_PER_PARTICIPANT")
        .default("500"),
    )
    .addOption(
      new Option(
        "--max-cached-sagas <n>",
        "running sagas whose latest state this node holds in memory; the least recently written others are read from the store when they move",
      )
        .env("SAGA_MAX_CACHED_SAGAS")
        .default("10000"),
    )
    .addOption(
      new Option(
        "--tls-cert <file>",
        "serve the client and admin APIs over TLS with this certificate (PEM)",
      ).env("SAGA_TLS_CERT"),
    )
    .addOption(new Option("--tls-key <file>", "private key of --tls-cert (PEM)").env("SAGA_TLS_KEY"))
    .addOption(
      new Option(
        "--tls-ca <file>",
        "CA bundle that verifies client certificates and, when forwarding, the other coordinators",
      ).env("SAGA_TLS_CA"),
    )
    .addOption(
      new Option(
        "--tls-require-client-cert",
        "refuse callers without a client certificate from --tls-ca (mTLS)",
      ).env("SAGA_TLS_REQUIRE_CLIENT_CERT"),
    )
    .addOption(
      new Option(
        "--participant-tls",
        "call participants over TLS (verified against --participant-tls-ca, else the system roots)",
      ).env("SAGA_PARTICIPANT_TLS"),
    )
    .addOption(
      new Option(
        "--participant-tls-ca <file>",
        "CA bundle that participants' certificates must chain to; implies --participant-tls",
      ).env("SAGA_PARTICIPANT_TLS_CA"),
    )
    .addOption(
      new Option(
        "--participant-tls-cert <file>",
        "client certificate presented to participants, so they can verify the caller (default: --tls-cert)",
      ).env("SAGA_PARTICIPANT_TLS_CERT"),
    )
    .addOption(
      new Option(
        "--participant-tls-key <file>",
        "private key of --participant-tls-cert (default: --tls-key)",
      ).env("SAGA_PARTICIPANT_TLS_KEY"),
    )
    .addOption(
      new Option(
        "--participants-file <file>",
        "participant registry (YAML or JSON): name -> address, allowed namespaces, own TLS settings",
      ).env("SAGA_PARTICIPANTS_FILE"),
    )
    .addOption(
      new Option(
        "--allow-direct-participant-addresses",
        "let steps name any host:port instead of a registered --participant (always on in dev)",
      ).env("SAGA_ALLOW_DIRECT_PARTICIPANT_ADDRESSES"),
    )
    .addOption(
      new Option("--etcd-ca <file>", "TLS to etcd: CA bundle its certificate chains to").env("SAGA_ETCD_CA"),
    )
    .addOption(
      new Option("--etcd-cert <file>", "client certificate for etcd (with --etcd-key)").env("SAGA_ETCD_CERT"),
    )
    .addOption(new Option("--etcd-key <file>", "private key of --etcd-cert").env("SAGA_ETCD_KEY"))
    .addOption(new Option("--etcd-username <name>", "etcd user (auth enabled)").env("SAGA_ETCD_USERNAME"))
    .addOption(
      new Option(
        "--etcd-password-file <file>",
        "file holding the etcd user's password (or env SAGA_ETCD_PASSWORD; never on the command line)",
      ).env("SAGA_ETCD_PASSWORD_FILE"),
    )
    .addOption(
      new Option(
        "--max-attempts-per-saga <n>",
        "participant calls a saga's retry policies may allow in all (max_attempts summed over its steps)",
      )
        .env("SAGA_MAX_ATTEMPTS_PER_SAGA")
        .default("10000"),
    )
    .addOption(
      new Option("--min-backoff-ms <ms>", "shortest initial_backoff a retry policy may ask for")
        .env("SAGA_MIN_BACKOFF_MS")
        .default("10"),
    )
    .addOption(
      new Option(
        "--max-output-bytes <n>",
        "largest step output stored; a larger one fails the step as applied (it is compensated)",
      )
        .env("SAGA_MAX_OUTPUT_BYTES")
        .default(String(1024 * 1024)),
    )
    .addOption(
      new Option(
        "--max-saga-bytes <n>",
        "payloads plus outputs one saga may hold (its record must fit the store)",
      )
        .env("SAGA_MAX_SAGA_BYTES")
        .default(String(8 * 1024 * 1024)),
    )
    .addOption(
      new Option("--max-watch-streams <n>", "WatchSaga streams this node serves at once")
        .env("SAGA_MAX_WATCH_STREAMS")
        .default("10000"),
    )
    .addOption(
      new Option(
        "--max-watch-streams-per-caller <n>",
        "WatchSaga streams one caller may hold open on this node",
      )
        .env("SAGA_MAX_WATCH_STREAMS_PER_CALLER")
        .default("1000"),
    )
    .addOption(
      new Option(
        "--auth-policy <file>",
        "YAML or JSON policy: API tokens (SHA-256), JWT keys, and the roles of each caller identity; every client and admin call must then authenticate",
      ).env("SAGA_AUTH_POLICY"),
    )
    .addOption(
      new Option(
        "--tls-refresh-ms <ms>",
        "how often certificate files are re-read (rotation without restart); SIGHUP re-reads them at once",
      )
        .env("SAGA_TLS_REFRESH_MS")
        .default("60000"),
    );
}

/** Commander keys options by camelCase; the config schema by flag name, so errors can name the flag. */
function byFlagName(cmd: Command): Record<string, unknown> {
  const values = cmd.opts();
  const raw: Record<string, unknown> = {};
  for (const option of cmd.options)
    raw[option.long?.slice(2) ?? option.name()] = values[option.attributeName()];
  return raw;
}

async function run(mode: "dev" | "start", cmd: Command): Promise<void> {
  const opts = byFlagName(cmd);
  let config: ReturnType<typeof parseCoordinatorConfig>;
  try {
    const participant = opts.participant;
    config = parseCoordinatorConfig({
      ...opts,
      mode,
      participant:
        typeof participant === "string" ? participant.split(",").filter(Boolean) : (participant ?? []),
      demo: Boolean(opts.demo),
    });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(
        `saga-coordinator ${mode}: invalid configuration\n${redactSecrets(err.message)}\nSee --help.\n`,
      );
      process.exit(2);
    }
    throw err;
  }
  const logger = redactingLogger({ level: config["log-level"], base: { node: config["node-id"] } });
  if (config.mode === "dev" && config["etcd-endpoints"]) {
    process.stderr.write(
      "--etcd-endpoints: dev mode runs without etcd; use `saga-coordinator start` for a cluster\n",
    );
    process.exit(2);
  }
  const node = await startCoordinatorNode(config, logger);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "draining");
    node.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, "error while stopping");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  // Rotated certificates now rather than at the next --tls-refresh-ms.
  process.on("SIGHUP", () => {
    const changed = reloadTlsCertificates();
    logger.info({ signal: "SIGHUP", changed }, "certificate files re-read");
  });
  if (config.demo) await runDevDemo(node.address);
}

const program = new Command("saga-coordinator").description("A replicated gRPC saga coordinator.");
commonOptions(
  program
    .command("dev")
    .description("one node, in-memory store, no etcd: for trying it out")
    .addOption(new Option("--demo", "also start example participants and run two sagas").env("SAGA_DEMO")),
).action((_opts, cmd: Command) => run("dev", cmd));
commonOptions(
  program
    .command("start")
    .description("production node: MongoDB store; etcd cluster when --etcd-endpoints is set"),
).action((_opts, cmd: Command) => run("start", cmd));

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(
    `saga-coordinator: ${redactSecrets(err instanceof Error ? err.message : String(err))}\n`,
  );
  process.exit(1);
});
