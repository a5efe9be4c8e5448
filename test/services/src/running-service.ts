// What every way of getting a test service hands back: where to reach it, what
// it is, and (for servers this module started) how to stop, kill and restart it.

/** Which server answers: etcd, or one of the MongoDB-wire servers. */
export type MongoKind = "mongod" | "ferretdb-postgresql" | "mongo-java-server";
export type ServiceKind = "etcd" | MongoKind;

/** Where a service came from: an env var (not ours to control), a local binary, or a container. */
export type ServiceSource = "env" | "local" | "container";

export interface RestartOptions {
  /** How long it stays down between the kill and the new start (default 0). */
  downMs?: number;
}

/** Kill/start control of one server process (or of a whole service). */
export interface ServiceControl {
  /** True while its process runs. */
  readonly running: boolean;
  /** PID of the process group leader while running (for SIGSTOP/SIGCONT and the like). */
  readonly pid: number | undefined;
  /** SIGKILLs the whole process group and resolves once it is gone. Data is kept. */
  kill(): Promise<void>;
  /** Sends `signal` to the whole process group without waiting (e.g. SIGSTOP, SIGCONT). */
  signal(signal: NodeJS.Signals): void;
  /** Starts it again after kill(): same ports, same data; resolves once it answers. */
  start(): Promise<void>;
  /** kill() if running, stay down `downMs`, then start(). */
  restart(opts?: RestartOptions): Promise<void>;
}

/** The processes of a FerretDB-on-PostgreSQL service that a test can kill separately. */
export type BackendName = "postgresql" | "ferretdb";

export interface RunningService extends ServiceControl {
  /** etcd: comma-separated client URLs; MongoDB-wire: a connection string. */
  readonly url: string;
  /** What answers; "external" when it came from an env var and was not inspected. */
  readonly kind: ServiceKind | "external";
  readonly source: ServiceSource;
  /** One line for logs, e.g. "FerretDB v1.24.2 on PostgreSQL 15 (local) on 127.0.0.1:40123". */
  readonly description: string;
  /** False for servers that keep data in memory only (mongo-java-server): a restart loses it. */
  readonly durable: boolean;
  /** Whether kill/start/restart work (not for env-provided or container services). */
  readonly controllable: boolean;
  /** Separately killable processes; for ferretdb-postgresql: { postgresql, ferretdb }. */
  readonly parts: Partial<Record<BackendName, ServiceControl>>;
  /** parts[name].restart(opts); throws when this service has no such part. */
  restartBackend(name: BackendName, opts?: RestartOptions): Promise<void>;
  /** Stops everything it started (gracefully, then hard) and removes its temp dirs. */
  stop(): Promise<void>;
}

/** Thrown by kill/start/restart of a service this module does not control. */
export class NotControllableError extends Error {}
