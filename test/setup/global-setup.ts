import type { TestProject } from "vitest/node";
import { containerEngineAnswers, startEtcdContainer, startMongoContainer } from "./container-services.js";
import { type RunningService, startLocalEtcd, startLocalMongo } from "./local-services.js";
import { etcdIsHealthy, mongoAnswersPing, waitUntil } from "./service-probes.js";

// Global setup of the `integration` project: finds a REAL etcd and a REAL
// MongoDB-wire server, hands them to tests as inject("etcdEndpoints") /
// inject("mongoUri") and as ETCD_ENDPOINTS / MONGODB_URI (inherited by child
// processes), and stops whatever it started after the run.
//
// Each service comes from the first of:
//   a) its env var: ETCD_ENDPOINTS (comma-separated http URLs) / MONGODB_URI;
//   b) local binaries: `etcd`; `mongod`, else `ferretdb`, else the jar
//      scripts/mongo-java-server/target/mongo-java-server.jar (see
//      scripts/install-test-deps.sh), started on free ports in temp dirs;
//   c) testcontainers, when a Docker engine answers;
//   d) otherwise the run fails with a short message saying what to do.
// SAGA_TEST_SERVICES=none skips a) to c), to check that message
// (scripts/check-missing-services.sh does).

interface ServiceKind {
  /** Short name for log lines. */
  name: string;
  /** What it is, for error messages. */
  title: string;
  envVar: "ETCD_ENDPOINTS" | "MONGODB_URI";
  probe(url: string): Promise<void>;
  startLocal(): Promise<RunningService | undefined>;
  startContainer(): Promise<RunningService>;
}

const ETCD: ServiceKind = {
  name: "etcd",
  title: "etcd",
  envVar: "ETCD_ENDPOINTS",
  probe: etcdIsHealthy,
  startLocal: startLocalEtcd,
  startContainer: startEtcdContainer,
};

const MONGO: ServiceKind = {
  name: "mongo",
  title: "MongoDB-wire server",
  envVar: "MONGODB_URI",
  probe: mongoAnswersPing,
  startLocal: startLocalMongo,
  startContainer: startMongoContainer,
};

const ENV_PROBE_TIMEOUT_MS = 15_000;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const mode = process.env.SAGA_TEST_SERVICES ?? "auto";
  const started: RunningService[] = [];
  const previousEnv = { ETCD_ENDPOINTS: process.env.ETCD_ENDPOINTS, MONGODB_URI: process.env.MONGODB_URI };
  const teardown = async () => {
    for (const service of started.reverse()) await service.stop();
    restoreEnv(previousEnv);
  };

  try {
    if (mode !== "auto" && mode !== "none") {
      fail(`SAGA_TEST_SERVICES must be "auto" (the default) or "none", not ${JSON.stringify(mode)}.`);
    }
    const missing: string[] = [];
    const urls: Partial<Record<ServiceKind["envVar"], string>> = {};
    for (const kind of [ETCD, MONGO]) {
      const found = mode === "none" ? undefined : await findService(kind, started);
      if (found) urls[kind.envVar] = found;
      else missing.push(kind.title);
    }
    if (urls.ETCD_ENDPOINTS === undefined || urls.MONGODB_URI === undefined) {
      fail(missingServicesMessage(missing, mode));
    }
    project.provide("etcdEndpoints", urls.ETCD_ENDPOINTS);
    project.provide("mongoUri", urls.MONGODB_URI);
    process.env.ETCD_ENDPOINTS = urls.ETCD_ENDPOINTS;
    process.env.MONGODB_URI = urls.MONGODB_URI;
  } catch (error) {
    await teardown();
    if (!(error instanceof TestServicesError)) throw error;
    // A thrown error would be printed after a misleading "No test files found"
    // block; say only what is wrong and how to fix it.
    console.error(`\n${error.message}\n`);
    process.exit(1);
  }
  return teardown;
}

/** URL of a working `kind` service (env, local or container), or undefined when there is none. */
async function findService(kind: ServiceKind, started: RunningService[]): Promise<string | undefined> {
  const fromEnv = normalize(kind, process.env[kind.envVar]);
  if (fromEnv) {
    await attempt(kind, `${kind.envVar}=${fromEnv}`, () =>
      waitUntil(kind.envVar, () => kind.probe(fromEnv), { timeoutMs: ENV_PROBE_TIMEOUT_MS }),
    );
    log(kind, `${kind.envVar}=${fromEnv}`);
    return fromEnv;
  }
  let service = await attempt(kind, "local binary", () => kind.startLocal());
  if (!service && (await containerEngineAnswers())) {
    service = await attempt(kind, "testcontainers", () => kind.startContainer());
  }
  if (!service) return undefined;
  started.push(service);
  log(kind, service.description);
  return service.url;
}

/** Runs one way of getting a service; turns its failure into a short, stackless error. */
async function attempt<T>(kind: ServiceKind, source: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    fail(`${kind.title} (${source}) is not usable:\n${message}`);
  }
}

function normalize(kind: ServiceKind, value: string | undefined): string | undefined {
  if (!value?.trim()) return undefined;
  if (kind !== ETCD) return value.trim();
  return value
    .split(",")
    .map((endpoint) => endpoint.trim())
    .filter(Boolean)
    .join(",");
}

function missingServicesMessage(missing: string[], mode: string): string {
  const why =
    mode === "none"
      ? "SAGA_TEST_SERVICES=none is set, so none were looked for."
      : "Looked in: ETCD_ENDPOINTS / MONGODB_URI, local binaries (etcd; mongod, ferretdb or the mongo-java-server jar), testcontainers (no Docker engine answered).";
  return [
    `The integration tests need a real etcd and a real MongoDB-wire server (missing: ${missing.join(", ")}).`,
    why,
    "Fix: install them locally (Debian etcd-server + mongo-java-server jar via Maven; takes seconds when present):",
    "    bash scripts/install-test-deps.sh",
    "or point the tests at running servers:",
    "    ETCD_ENDPOINTS=http://127.0.0.1:2379 MONGODB_URI=mongodb://127.0.0.1:27017 npx vitest run --project integration",
  ].join("\n");
}

/** An expected failure (no services, or one that does not work): reported as its message alone. */
class TestServicesError extends Error {
  constructor(message: string) {
    super(`[test-services] ${message}`);
    this.stack = this.message; // no stack frames, should it be printed anyway
  }
}

function fail(message: string): never {
  throw new TestServicesError(message);
}

function log(kind: ServiceKind, description: string): void {
  console.log(`[test-services] ${kind.name}: ${description}`);
}

function restoreEnv(saved: Record<string, string | undefined>): void {
  for (const [key, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
}
