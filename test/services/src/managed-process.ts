import { type ChildProcess, spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { findOnPath } from "./binaries.js";
import { waitUntil } from "./probes.js";
import type { RestartOptions, ServiceControl } from "./running-service.js";

// One server process in its own process group: started, killed and started
// again with the same command line (so the same ports and data dir), keeping
// the tail of its output for error messages.

const STARTUP_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;

export interface ProcessSpec {
  /** For messages, e.g. "postgres". */
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** Run as this user/group (root only; PostgreSQL refuses to run as root). */
  uid?: number;
  gid?: number;
  /** Signal for a graceful stop (default SIGTERM; PostgreSQL's "fast shutdown" is SIGINT). */
  stopSignal?: NodeJS.Signals;
  /** Resolves once the server answers; retried until it does. */
  ready(): Promise<void>;
}

/** The process died while starting (e.g. its "free" port was taken meanwhile): worth a retry on new ports. */
export class ServerExitedError extends Error {}

/** Process groups still running, killed hard if this process exits or is signalled without stopping them. */
const liveGroups = new Set<number>();
const killLiveGroups = () => {
  for (const pid of liveGroups) killGroup(pid, "SIGKILL");
};
process.once("exit", killLiveGroups);
// A signal's default action skips "exit" handlers; when ours is the only handler,
// it kills the servers and then lets the signal do what it would have done.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, function onSignal() {
    killLiveGroups();
    if (process.listenerCount(signal) === 1) {
      process.removeListener(signal, onSignal);
      process.kill(process.pid, signal);
    }
  });
}

export class ManagedProcess implements ServiceControl {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private exitReason: string | undefined;
  private output = "";

  constructor(private readonly spec: ProcessSpec) {}

  get running(): boolean {
    return this.child !== undefined && this.exitReason === undefined;
  }

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  /** The last few KB it printed. */
  outputTail(): string {
    return this.output.trim();
  }

  async start(): Promise<void> {
    if (this.running) throw new Error(`${this.spec.name} is already running (pid ${this.pid})`);
    this.spawn();
    try {
      await waitUntil(this.spec.name, () => this.spec.ready(), {
        timeoutMs: STARTUP_TIMEOUT_MS,
        gaveUp: () => this.exitReason,
      });
    } catch (error) {
      const exitedEarly = this.exitReason !== undefined;
      await this.kill();
      const message = error instanceof Error ? error.message : String(error);
      const tail = this.outputTail()
        ? `\n--- last output of ${this.spec.name} ---\n${this.outputTail()}`
        : "";
      throw new (exitedEarly ? ServerExitedError : Error)(`${message}${tail}`);
    }
  }

  async kill(): Promise<void> {
    const pid = this.pid;
    if (pid === undefined) return;
    killGroup(pid, "SIGKILL");
    await this.exited;
    await groupGone(pid);
  }

  signal(signal: NodeJS.Signals): void {
    const pid = this.pid;
    if (pid !== undefined) killGroup(pid, signal);
  }

  async restart(opts: RestartOptions = {}): Promise<void> {
    await this.kill();
    if (opts.downMs) await sleep(opts.downMs);
    await this.start();
  }

  /** The graceful stop signal to the group (and SIGCONT, should it be stopped), SIGKILL after a grace period. */
  async stop(): Promise<void> {
    const pid = this.pid;
    if (pid === undefined) return;
    killGroup(pid, this.spec.stopSignal ?? "SIGTERM");
    killGroup(pid, "SIGCONT");
    const timer = setTimeout(() => killGroup(pid, "SIGKILL"), STOP_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }

  private spawn(): void {
    const { env, uid, gid } = this.spec;
    const [command, ...args] = withParentDeathSignal([this.spec.command, ...this.spec.args]);
    this.output = "";
    this.exitReason = undefined;
    const child = spawn(command as string, args, {
      env: env ?? process.env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      ...(uid !== undefined ? { uid } : {}),
      ...(gid !== undefined ? { gid } : {}),
    });
    this.child = child;
    const pid = child.pid;
    if (pid !== undefined) liveGroups.add(pid);
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-4_000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    this.exited = new Promise((resolve) => {
      child.once("error", (error) => {
        this.exitReason ??= `could not start: ${error.message}`;
        resolve();
      });
      child.once("exit", (code, signal) => {
        this.exitReason ??= signal ? `killed by ${signal}` : `exited with code ${code}`;
        if (pid !== undefined) liveGroups.delete(pid);
        resolve();
      });
    });
  }
}

const setpriv = process.platform === "linux" ? findOnPath("setpriv") : undefined;

/**
 * The command line run under `setpriv --pdeathsig KILL` (util-linux) where there
 * is one: the server then dies with the process that started it even when that
 * process is SIGKILLed (e.g. a test worker), which no exit handler can catch.
 */
function withParentDeathSignal(commandLine: string[]): string[] {
  return setpriv ? [setpriv, "--pdeathsig", "KILL", "--", ...commandLine] : commandLine;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/**
 * Waits (bounded) until no process of the group is left: PostgreSQL will not
 * start while backends of a killed postmaster still hold its shared memory.
 */
async function groupGone(pid: number): Promise<void> {
  const deadline = Date.now() + STOP_GRACE_MS;
  while (Date.now() < deadline) {
    try {
      process.kill(-pid, 0);
    } catch {
      return;
    }
    await sleep(20);
  }
}
