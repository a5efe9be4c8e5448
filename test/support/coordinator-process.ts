import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { credentials } from "@grpc/grpc-js";
import { CoordinatorServiceClient } from "@saga-coordinator/proto";

const MAIN = path.resolve(import.meta.dirname, "../../coordinator/dist/cli/main.js");

// Children must not outlive a test run that is interrupted or times out.
const children = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

export interface CoordinatorProcess {
  child: ChildProcess;
  address: string;
  client: CoordinatorServiceClient;
  /** Everything the process printed, for failure messages. */
  output(): string;
  kill(signal: NodeJS.Signals): Promise<void>;
}

/**
 * Starts `saga-coordinator <mode>` from the built package as a real child
 * process and waits until it logs "coordinator ready".
 */
export async function startCoordinatorProcess(
  args: string[],
  env: Record<string, string> = {},
): Promise<CoordinatorProcess> {
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: { ...process.env, SAGA_LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  child.once("exit", () => children.delete(child));
  let output = "";
  child.stdout?.on("data", (d) => {
    output += d;
  });
  child.stderr?.on("data", (d) => {
    output += d;
  });
  const listen = args[args.indexOf("--listen") + 1] ?? "127.0.0.1:50051";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`coordinator did not start:\n${output}`)), 30_000);
    const check = () => {
      if (output.includes("coordinator ready")) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on("data", check);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`coordinator exited with ${code}:\n${output}`));
    });
  });
  const client = new CoordinatorServiceClient(listen, credentials.createInsecure());
  return {
    child,
    address: listen,
    client,
    output: () => output,
    kill: (signal) =>
      new Promise((resolve) => {
        client.close();
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill(signal);
      }),
  };
}
