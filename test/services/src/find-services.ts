import { containerEngineAnswers, startEtcdContainer, startMongoContainer } from "./containers.js";
import { startLocalEtcd } from "./etcd.js";
import { type LocalMongoOptions, startLocalMongo } from "./local-mongo.js";
import { etcdIsHealthy, mongoAnswersPing, mongoServerName, waitUntil } from "./probes.js";
import type { RunningService } from "./running-service.js";
import { remoteService } from "./service.js";

// Finds a REAL etcd and a REAL MongoDB-wire server. Each comes from the first of:
//   a) its env var: ETCD_ENDPOINTS (comma-separated http URLs) / MONGODB_URI;
//   b) local binaries (scripts/install-test-deps.sh installs them): `etcd`; for
//      MongoDB `mongod`, else FerretDB on PostgreSQL, else mongo-java-server
//      (SAGA_TEST_MONGO can pick: see local-mongo.ts), on free ports in temp dirs;
//   c) testcontainers, when a Docker engine answers;
//   d) otherwise a TestServicesError whose message says what to do.
// SAGA_TEST_SERVICES=none skips a) to c), to check that message.

export interface TestServices {
  etcd: RunningService;
  mongo: RunningService;
  /** Stops whatever was started here (not env-provided servers). */
  stop(): Promise<void>;
}

export interface FindServicesOptions extends LocalMongoOptions {
  /** Skip ETCD_ENDPOINTS / MONGODB_URI: start servers this process controls (e.g. to kill them). */
  ignoreEnv?: boolean;
  /** "auto" (default) or "none" (find nothing, to check the failure message). Default: SAGA_TEST_SERVICES. */
  mode?: string;
  /** Gets one line per service saying which server it is. */
  log?: (line: string) => void;
}

/** An expected failure (no services, or one that does not work): meant to be shown as its message alone. */
export class TestServicesError extends Error {
  constructor(message: string) {
    super(`[test-services] ${message}`);
    this.stack = this.message; // no stack frames, should it be printed anyway
  }
}

const ENV_PROBE_TIMEOUT_MS = 15_000;

interface Wanted {
  name: "etcd" | "mongo";
  title: string;
  envVar: "ETCD_ENDPOINTS" | "MONGODB_URI";
  fromEnv(url: string): Promise<RunningService>;
  startLocal(): Promise<RunningService | undefined>;
  startContainer(): Promise<RunningService>;
}

/** etcd and a MongoDB-wire server, each from the first source that has one; throws TestServicesError otherwise. */
export async function startTestServices(opts: FindServicesOptions = {}): Promise<TestServices> {
  const mode = opts.mode ?? process.env.SAGA_TEST_SERVICES ?? "auto";
  const log = opts.log ?? (() => {});
  const started: RunningService[] = [];
  const stop = async () => {
    for (const service of started.reverse()) await service.stop();
  };
  const wanted: Wanted[] = [
    {
      name: "etcd",
      title: "etcd",
      envVar: "ETCD_ENDPOINTS",
      fromEnv: async (url) => {
        await waitUntil("ETCD_ENDPOINTS", () => etcdIsHealthy(url), { timeoutMs: ENV_PROBE_TIMEOUT_MS });
        return remoteService({
          url,
          kind: "etcd",
          source: "env",
          description: `ETCD_ENDPOINTS=${url}`,
          durable: true,
        });
      },
      startLocal: () => startLocalEtcd(),
      startContainer: startEtcdContainer,
    },
    {
      name: "mongo",
      title: "MongoDB-wire server",
      envVar: "MONGODB_URI",
      fromEnv: async (url) => {
        await waitUntil("MONGODB_URI", () => mongoAnswersPing(url), { timeoutMs: ENV_PROBE_TIMEOUT_MS });
        const server = await mongoServerName(url);
        const description = `MONGODB_URI=${url}${server ? ` (${server})` : ""}`;
        return remoteService({ url, kind: "external", source: "env", description, durable: true });
      },
      startLocal: () => startLocalMongo(opts),
      startContainer: startMongoContainer,
    },
  ];
  try {
    if (mode !== "auto" && mode !== "none") {
      throw new TestServicesError(
        `SAGA_TEST_SERVICES must be "auto" (the default) or "none", not ${JSON.stringify(mode)}.`,
      );
    }
    const found: Partial<Record<Wanted["name"], RunningService>> = {};
    const missing: string[] = [];
    for (const want of wanted) {
      const service = mode === "none" ? undefined : await findOne(want, opts.ignoreEnv === true);
      if (!service) {
        missing.push(want.title);
        continue;
      }
      if (service.source !== "env") started.push(service);
      found[want.name] = service;
      log(`${want.name}: ${service.description}`);
    }
    if (!found.etcd || !found.mongo) throw new TestServicesError(missingServicesMessage(missing, mode));
    return { etcd: found.etcd, mongo: found.mongo, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function findOne(want: Wanted, ignoreEnv: boolean): Promise<RunningService | undefined> {
  const fromEnv = ignoreEnv ? undefined : normalize(want, process.env[want.envVar]);
  if (fromEnv) return attempt(want, `${want.envVar}=${fromEnv}`, () => want.fromEnv(fromEnv));
  const local = await attempt(want, "local binary", () => want.startLocal());
  if (local) return local;
  if (!(await containerEngineAnswers())) return undefined;
  return attempt(want, "testcontainers", () => want.startContainer());
}

/** Runs one way of getting a service; turns its failure into a short, stackless error. */
async function attempt<T>(want: Wanted, source: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof TestServicesError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new TestServicesError(`${want.title} (${source}) is not usable:\n${message}`);
  }
}

function normalize(want: Wanted, value: string | undefined): string | undefined {
  if (!value?.trim()) return undefined;
  if (want.name !== "etcd") return value.trim();
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
      : "Looked in: ETCD_ENDPOINTS / MONGODB_URI, local binaries (etcd; mongod, FerretDB + PostgreSQL, or the mongo-java-server jar), testcontainers (no Docker engine answered).";
  return [
    `The tests need a real etcd and a real MongoDB-wire server (missing: ${missing.join(", ")}).`,
    why,
    "Fix: install them locally (Debian etcd-server and postgresql, FerretDB built from its Go module; seconds when present):",
    "    bash scripts/install-test-deps.sh",
    "or point the tests at running servers:",
    "    ETCD_ENDPOINTS=http://127.0.0.1:2379 MONGODB_URI=mongodb://127.0.0.1:27017 npx vitest run --project integration",
  ].join("\n");
}
