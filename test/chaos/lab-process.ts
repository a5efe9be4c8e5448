import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

// A process of the chaos lab (a coordinator, a participant, the forwarder):
// started in its namespace, its output appended to a log file in the run
// directory, signalled by pid, started again on the same arguments.

const all = new Set<LabProcess>();
process.once("exit", () => {
  for (const p of all) p.child?.kill("SIGKILL");
});

export interface LabProcessOptions {
  name: string;
  /** Full command line, e.g. ["ip", "netns", "exec", ns, node, script, ...]. */
  command: string[];
  logPath: string;
  /** Resolves when the process is ready (probe or log line); polled until startTimeoutMs. */
  ready: (p: LabProcess) => Promise<boolean>;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  startTimeoutMs?: number;
}

export class LabProcess {
  child: ChildProcess | null = null;
  private log: WriteStream;
  /** The last 64 KiB of output of the current incarnation (ready checks, failure messages). */
  private tail = "";
  private exited: Promise<void> = Promise.resolve();

  constructor(readonly options: LabProcessOptions) {
    this.log = createWriteStream(options.logPath, { flags: "a" });
    all.add(this);
  }

  get name(): string {
    return this.options.name;
  }

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  output(): string {
    return this.tail;
  }

  async start(): Promise<void> {
    if (this.running) throw new Error(`${this.name} is already running`);
    const [command, ...args] = this.options.command;
    this.tail = "";
    this.log.write(
      `\n===== ${new Date().toISOString()} start ${this.name}: ${this.options.command.join(" ")}\n`,
    );
    const child = spawn(command as string, args, {
      cwd: this.options.cwd,
      env: this.options.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    const onData = (d: Buffer) => {
      this.log.write(d);
      this.tail = (this.tail + d.toString()).slice(-65_536);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    this.exited = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        this.log.write(`\n===== ${new Date().toISOString()} ${this.name} exited (${signal ?? code})\n`);
        resolve();
      }),
    );
    const until = Date.now() + (this.options.startTimeoutMs ?? 60_000);
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `${this.name} exited during start (${child.signalCode ?? child.exitCode}):\n${this.tail.slice(-3000)}`,
        );
      }
      if (await this.options.ready(this).catch(() => false)) return;
      if (Date.now() > until) {
        child.kill("SIGKILL");
        throw new Error(`${this.name} was not ready in time:\n${this.tail.slice(-3000)}`);
      }
      await sleep(100);
    }
  }

  /** Sends a signal without waiting. */
  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child?.kill(signal);
  }

  /** Resolves when the current incarnation has exited, or false after timeoutMs. */
  async waitExit(timeoutMs: number): Promise<boolean> {
    if (!this.running) return true;
    return Promise.race([this.exited.then(() => true), sleep(timeoutMs).then(() => false)]);
  }

  async kill(): Promise<void> {
    if (!this.running) return;
    this.child?.kill("SIGCONT"); // a stopped process must run to die
    this.child?.kill("SIGKILL");
    await this.exited;
  }

  note(line: string): void {
    this.log.write(`\n===== ${new Date().toISOString()} ${line}\n`);
  }

  async close(): Promise<void> {
    await this.kill();
    all.delete(this);
    await new Promise((r) => this.log.end(r));
  }
}

/** A ready check: the current incarnation printed `text`. */
export function printed(text: string): (p: LabProcess) => Promise<boolean> {
  return async (p) => p.output().includes(text);
}
