import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../support/free-port.js";
import { etcdIsHealthy, mongoAnswersPing, waitUntil } from "./service-probes.js";

// Starts etcd and a MongoDB-wire server from binaries installed on this machine
// (see scripts/install-test-deps.sh). Every server runs in its own process group
// with its own temp dir; stop() kills the group and removes the dir.

/** A started service: where to reach it, what it is, how to stop it. */
export interface RunningService {
  /** etcd: comma-separated client URLs; MongoDB: a connection string. */
  url: string;
  /** One line for the log, e.g. "local binary /usr/bin/etcd on 127.0.0.1:23791". */
  description: string;
  stop(): Promise<void>;
}

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
export const mongoJavaServerJar = join(repoRoot, "scripts/mongo-java-server/target/mongo-java-server.jar");

const STARTUP_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;
const START_ATTEMPTS = 3; // a "free" port can be taken by someone else before the server binds it

/** Absolute path of an executable `name` on PATH, or undefined. */
export function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const candidate = join(dir || ".", name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** etcd on free client and peer ports, or undefined when `etcd` is not on PATH. */
export async function startLocalEtcd(): Promise<RunningService | undefined> {
  const etcd = findOnPath("etcd");
  if (!etcd) return undefined;
  return withFreshPorts(async () => {
    const [clientPort, peerPort] = [await freePort(), await freePort()];
    const client = `http://127.0.0.1:${clientPort}`;
    const peer = `http://127.0.0.1:${peerPort}`;
    const dataDir = await mkdtemp(join(tmpdir(), "saga-test-etcd-"));
    // biome-ignore format: one flag and its value per line
    const args = [
      "--name", "saga-test", "--data-dir", dataDir,
      "--listen-client-urls", client, "--advertise-client-urls", client,
      "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
      "--initial-cluster", `saga-test=${peer}`, "--initial-cluster-state", "new",
      "--logger", "zap", "--log-level", "error",
    ];
    // etcd reads ETCD_* variables as flags; keep ours (e.g. ETCD_ENDPOINTS) away from it.
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("ETCD_")));
    const server = new ServiceProcess(etcd, args, env, dataDir);
    await server.waitUntilReady("etcd", () => etcdIsHealthy(client));
    return {
      url: client,
      description: `local binary ${etcd} on 127.0.0.1:${clientPort}`,
      stop: () => server.stop(),
    };
  });
}

/**
 * A MongoDB-wire server: `mongod` on PATH, else `ferretdb` on PATH (SQLite
 * backend), else the mongo-java-server jar; undefined when none is available.
 */
export async function startLocalMongo(): Promise<RunningService | undefined> {
  const mongod = findOnPath("mongod");
  if (mongod) {
    return withFreshPorts(async () => {
      const port = await freePort();
      const dbPath = await mkdtemp(join(tmpdir(), "saga-test-mongod-"));
      const args = [
        "--dbpath",
        dbPath,
        "--port",
        String(port),
        "--bind_ip",
        "127.0.0.1",
        "--nounixsocket",
        "--quiet",
      ];
      return startMongoProcess(mongod, args, port, dbPath, `local binary ${mongod}`);
    });
  }
  const ferretdb = findOnPath("ferretdb");
  if (ferretdb) {
    return withFreshPorts(async () => {
      const port = await freePort();
      const stateDir = await mkdtemp(join(tmpdir(), "saga-test-ferretdb-"));
      // biome-ignore format: one flag and its value per line
      const args = [
        `--listen-addr=127.0.0.1:${port}`, "--handler=sqlite", `--sqlite-url=file:${stateDir}/`,
        `--state-dir=${stateDir}`, "--telemetry=disable", "--debug-addr=-", "--log-level=warn",
      ];
      return startMongoProcess(ferretdb, args, port, stateDir, `local binary ${ferretdb} (SQLite backend)`);
    });
  }
  const java = findOnPath("java");
  if (java && existsSync(mongoJavaServerJar)) {
    // Port 0: the server binds a free port itself and prints it, so there is no race.
    const server = new ServiceProcess(java, ["-jar", mongoJavaServerJar, "127.0.0.1", "0"], process.env);
    const [, port] = await server.waitForLine("mongo-java-server", /^listening \S+:(\d+)$/m);
    const uri = `mongodb://127.0.0.1:${port}`;
    await server.waitUntilReady("mongo-java-server", () => mongoAnswersPing(uri));
    const jar = relative(repoRoot, mongoJavaServerJar);
    return {
      url: uri,
      description: `mongo-java-server ${jar} on 127.0.0.1:${port}`,
      stop: () => server.stop(),
    };
  }
  return undefined;
}

async function startMongoProcess(
  command: string,
  args: string[],
  port: number,
  tempDir: string,
  what: string,
): Promise<RunningService> {
  const uri = `mongodb://127.0.0.1:${port}`;
  const server = new ServiceProcess(command, args, process.env, tempDir);
  await server.waitUntilReady(command, () => mongoAnswersPing(uri));
  return { url: uri, description: `${what} on 127.0.0.1:${port}`, stop: () => server.stop() };
}

/** Runs `start` again (with new ports) when the server died during startup. */
async function withFreshPorts(start: () => Promise<RunningService>): Promise<RunningService> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (error) {
      if (attempt >= START_ATTEMPTS || !(error instanceof ServerExitedError)) throw error;
    }
  }
}

class ServerExitedError extends Error {}

/** Process groups still running, killed hard if the test process exits without teardown. */
const liveGroups = new Set<number>();
process.once("exit", () => {
  for (const pid of liveGroups) killGroup(pid, "SIGKILL");
});

/** A server process in its own process group, keeping the tail of its output for error messages. */
class ServiceProcess {
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  private output = "";
  private exitReason: string | undefined;

  constructor(
    private readonly command: string,
    args: string[],
    env: NodeJS.ProcessEnv,
    private readonly tempDir?: string,
  ) {
    this.child = spawn(command, args, { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    const pid = this.child.pid;
    if (pid !== undefined) liveGroups.add(pid);
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-4_000);
    };
    this.child.stdout?.on("data", keep);
    this.child.stderr?.on("data", keep);
    this.exited = new Promise((resolve) => {
      this.child.once("error", (error) => {
        this.exitReason ??= `could not start: ${error.message}`;
        resolve();
      });
      this.child.once("exit", (code, signal) => {
        this.exitReason ??= signal ? `killed by ${signal}` : `exited with code ${code}`;
        if (pid !== undefined) liveGroups.delete(pid);
        resolve();
      });
    });
  }

  /** Waits for `probe` to succeed; on failure stops the process and throws with its output. */
  async waitUntilReady(what: string, probe: () => Promise<void>): Promise<void> {
    try {
      return await waitUntil(what, probe, { timeoutMs: STARTUP_TIMEOUT_MS, gaveUp: () => this.exitReason });
    } catch (error) {
      throw await this.failed(error);
    }
  }

  /** Waits for a line of output matching `pattern`; on failure stops the process and throws. */
  async waitForLine(what: string, pattern: RegExp): Promise<RegExpMatchArray> {
    const lineMatches = async () => {
      const match = this.output.match(pattern);
      if (!match) throw new Error(`no output line matching ${pattern}`);
      return match;
    };
    try {
      return await waitUntil(what, lineMatches, {
        timeoutMs: STARTUP_TIMEOUT_MS,
        gaveUp: () => this.exitReason,
      });
    } catch (error) {
      throw await this.failed(error);
    }
  }

  /** SIGTERM to the whole group, SIGKILL after a grace period; then removes the temp dir. */
  async stop(): Promise<void> {
    const pid = this.child.pid;
    if (pid !== undefined && this.exitReason === undefined) {
      killGroup(pid, "SIGTERM");
      const timer = setTimeout(() => killGroup(pid, "SIGKILL"), STOP_GRACE_MS);
      await this.exited;
      clearTimeout(timer);
    }
    if (this.tempDir) await rm(this.tempDir, { recursive: true, force: true });
  }

  private async failed(error: unknown): Promise<Error> {
    const exitedEarly = this.exitReason !== undefined;
    await this.stop();
    const message = error instanceof Error ? error.message : String(error);
    const tail = this.output.trim() ? `\n--- last output of ${this.command} ---\n${this.output.trim()}` : "";
    const ErrorType = exitedEarly ? ServerExitedError : Error;
    return new ErrorType(`${message}${tail}`);
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}
