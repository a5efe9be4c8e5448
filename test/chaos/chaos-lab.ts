import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { credentials } from "@grpc/grpc-js";
import { AdminServiceClient, CoordinatorServiceClient } from "@saga-coordinator/proto";
import {
  type RunningService,
  startFerretdbOnPostgres,
  startLocalEtcd,
} from "@saga-coordinator/test-services";
import { LabProcess, printed } from "./lab-process.js";
import { NetworkLab } from "./network-lab.js";

// Everything a chaos run starts: etcd and FerretDB on PostgreSQL (the test
// services module, on 127.0.0.1, reached from the namespaces through a TCP
// forwarder on the bridge), the TypeScript and Go participants and three
// coordinators, each in its own network namespace.

const REPO_ROOT = repoRootFrom(import.meta.dirname);

function repoRootFrom(dir: string): string {
  // Compiled: test/chaos/dist/test/chaos/*.js; from source (vitest): test/chaos/*.ts.
  const marker = `${path.sep}test${path.sep}chaos${path.sep}dist${path.sep}`;
  const at = dir.indexOf(marker);
  return at >= 0 ? dir.slice(0, at) : path.resolve(dir, "../..");
}

const CHAOS_DIST = path.join(REPO_ROOT, "test/chaos/dist/test/chaos");
const COORDINATOR_MAIN = path.join(REPO_ROOT, "coordinator/dist/cli/main.js");
const GO_DIR = path.join(REPO_ROOT, "examples/go-participant");

export interface LabSettings {
  runId: string;
  runDir: string;
  nodeIds: string[];
  partitions: number;
  leaseTtlSeconds: number;
  drainTimeoutMs: number;
}

export interface CoordinatorHandle {
  nodeId: string;
  address: string;
  process: LabProcess;
  client: CoordinatorServiceClient;
  admin: AdminServiceClient;
}

const COORDINATOR_PORT = 50051;
const TS_PORT = 7001;
const GO_PORT = 7003;

export class ChaosLab {
  readonly coordinators = new Map<string, CoordinatorHandle>();
  readonly participants = new Map<"ts" | "go", LabProcess>();
  private readonly latencyProxies = new Map<"ts" | "go", LabProcess>();
  etcd!: RunningService;
  mongo!: RunningService;
  etcdUrl = "";
  mongoUri = "";
  private forwarder!: LabProcess;
  readonly etcdPrefix: string;
  readonly database: string;

  private constructor(
    readonly settings: LabSettings,
    readonly network: NetworkLab,
  ) {
    this.etcdPrefix = `/chaos-${settings.runId}`;
    this.database = `chaos_${settings.runId.replace(/[^A-Za-z0-9]/g, "_")}`;
  }

  static async start(settings: LabSettings, log: (line: string) => void): Promise<ChaosLab> {
    const network = NetworkLab.create([...settings.nodeIds, "ts", "go"]);
    const lab = new ChaosLab(settings, network);
    try {
      await lab.startAll(log);
    } catch (err) {
      await lab.stop();
      throw err;
    }
    return lab;
  }

  private logPath(name: string): string {
    return path.join(this.settings.runDir, `${name}.log`);
  }

  private async startAll(log: (line: string) => void): Promise<void> {
    log(`network: ${this.network.describe()}`);
    const etcd = await startLocalEtcd();
    if (!etcd) throw new Error("etcd is not on PATH: run scripts/install-test-deps.sh");
    this.etcd = etcd;
    const mongo = await startFerretdbOnPostgres();
    if (!mongo) throw new Error("FerretDB or PostgreSQL is missing: run scripts/install-test-deps.sh");
    this.mongo = mongo;
    log(`services: ${etcd.description}; ${mongo.description}`);

    const host = this.network.hostAddress;
    const etcdPort = new URL(etcd.url.split(",")[0] as string).port;
    const mongoPort = new URL(mongo.url).port;
    this.etcdUrl = `http://${host}:${etcdPort}`;
    this.mongoUri = `mongodb://${host}:${mongoPort}/`;
    this.forwarder = new LabProcess({
      name: "forwarder",
      command: [
        process.execPath,
        path.join(CHAOS_DIST, "tcp-forwarder.js"),
        `${host}:${etcdPort}=127.0.0.1:${etcdPort}`,
        `${host}:${mongoPort}=127.0.0.1:${mongoPort}`,
      ],
      logPath: this.logPath("forwarder"),
      ready: (p) => printed(`-> 127.0.0.1:${mongoPort}`)(p),
    });
    await this.forwarder.start();

    await this.startParticipants();
    await Promise.all(this.settings.nodeIds.map((id) => this.createCoordinator(id).start()));
  }

  private async startParticipants(): Promise<void> {
    // Each participant listens on 127.0.0.1 inside its namespace, behind a forwarder that can add latency.
    const ts = new LabProcess({
      name: "participant-ts",
      command: [
        ...this.network.execPrefix("ts"),
        process.execPath,
        path.join(CHAOS_DIST, "participant/chaos-participant.js"),
        "--listen",
        `127.0.0.1:${TS_PORT}`,
        "--journal",
        path.join(this.settings.runDir, "participant-ts.journal"),
      ],
      logPath: this.logPath("participant-ts"),
      ready: printed("participant listening"),
    });
    const go = new LabProcess({
      name: "participant-go",
      command: [
        ...this.network.execPrefix("go"),
        buildGoParticipant(),
        "--listen",
        `127.0.0.1:${GO_PORT}`,
        "--db",
        path.join(this.settings.runDir, "participant-go.sqlite"),
        "--shutdown-timeout",
        "5s",
      ],
      cwd: GO_DIR,
      logPath: this.logPath("participant-go"),
      ready: printed("participant listening"),
    });
    this.participants.set("ts", ts);
    this.participants.set("go", go);
    for (const name of ["ts", "go"] as const) {
      const port = name === "ts" ? TS_PORT : GO_PORT;
      const proxy = new LabProcess({
        name: `latency-proxy-${name}`,
        command: [
          ...this.network.execPrefix(name),
          process.execPath,
          path.join(CHAOS_DIST, "tcp-forwarder.js"),
          "--delay-file",
          this.delayFile(name),
          `${this.network.addressOf(name)}:${port}=127.0.0.1:${port}`,
        ],
        logPath: this.logPath(`latency-proxy-${name}`),
        ready: printed("forwarding"),
      });
      this.latencyProxies.set(name, proxy);
      await proxy.start();
    }
    await Promise.all([ts.start(), go.start()]);
  }

  private delayFile(name: "ts" | "go"): string {
    return path.join(this.settings.runDir, `latency-${name}.ms`);
  }

  /** Adds `delayMs` to every chunk sent to the participant (0: none). */
  setLatency(name: "ts" | "go", delayMs: number): void {
    writeFileSync(this.delayFile(name), String(delayMs));
    this.latencyProxies.get(name)?.signal("SIGHUP");
  }

  participantAddress(name: "ts" | "go"): string {
    return `${this.network.addressOf(name)}:${name === "ts" ? TS_PORT : GO_PORT}`;
  }

  private createCoordinator(nodeId: string): LabProcess {
    const address = `${this.network.addressOf(nodeId)}:${COORDINATOR_PORT}`;
    const s = this.settings;
    // biome-ignore format: one flag and its value per line
    const args = [
      "start",
      "--allow-direct-participant-addresses",
      "--listen", address,
      "--node-id", nodeId,
      "--etcd-endpoints", this.etcdUrl,
      "--etcd-prefix", this.etcdPrefix,
      "--mongodb-uri", this.mongoUri,
      "--mongodb-database", this.database,
      "--partitions", String(s.partitions),
      "--lease-ttl-seconds", String(s.leaseTtlSeconds),
      "--drain-timeout-ms", String(s.drainTimeoutMs),
      "--lost-call-grace-ms", "1000",
      "--log-level", "info",
    ];
    const proc = new LabProcess({
      name: nodeId,
      command: [...this.network.execPrefix(nodeId), process.execPath, COORDINATOR_MAIN, ...args],
      logPath: this.logPath(nodeId),
      ready: printed("coordinator ready"),
    });
    this.coordinators.set(nodeId, {
      nodeId,
      address,
      process: proc,
      client: new CoordinatorServiceClient(address, credentials.createInsecure()),
      admin: new AdminServiceClient(address, credentials.createInsecure()),
    });
    return proc;
  }

  coordinator(nodeId: string): CoordinatorHandle {
    const c = this.coordinators.get(nodeId);
    if (!c) throw new Error(`no coordinator ${nodeId}`);
    return c;
  }

  async stop(): Promise<void> {
    for (const c of this.coordinators.values()) {
      c.client.close();
      c.admin.close();
      await c.process.close();
    }
    for (const p of [...this.participants.values(), ...this.latencyProxies.values()]) await p.close();
    await this.forwarder?.close();
    await this.etcd?.stop().catch(() => {});
    await this.mongo?.stop().catch(() => {});
    this.network.destroy();
  }
}

let goBinary: string | undefined;

/** The Go example participant, built once per process into a temp dir of its own (runs may overlap). */
function buildGoParticipant(): string {
  if (!goBinary) {
    goBinary = path.join(mkdtempSync(path.join(tmpdir(), "saga-chaos-go-")), "shipping-participant");
    execFileSync("go", ["build", "-o", goBinary, "./cmd/shipping-participant"], {
      cwd: GO_DIR,
      stdio: "inherit",
    });
  }
  return goBinary;
}
