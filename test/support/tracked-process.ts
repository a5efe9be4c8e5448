import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";

// Children must not outlive a test run that is interrupted or times out.
const children = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

export interface TrackedProcess {
  child: ChildProcess;
  /** Everything the process printed so far (stdout and stderr), for assertions and failure messages. */
  output(): string;
  /** Sends `signal` and resolves once the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Spawns a process whose output is captured and which is SIGKILLed if the test run exits first. */
export function spawnTracked(command: string, args: string[], options: SpawnOptions = {}): TrackedProcess {
  const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  child.once("exit", () => children.delete(child));
  let output = "";
  child.stdout?.on("data", (d) => {
    output += d;
  });
  child.stderr?.on("data", (d) => {
    output += d;
  });
  return {
    child,
    output: () => output,
    kill: (signal = "SIGTERM") =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill(signal);
      }),
  };
}
