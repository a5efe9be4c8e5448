import type { ChildProcess } from "node:child_process";
import path from "node:path";
import { credentials } from "@grpc/grpc-js";
import { CoordinatorServiceClient } from "@saga-coordinator/proto";
import { spawnTracked } from "./tracked-process.js";

const MAIN = path.resolve(import.meta.dirname, "../../coordinator/dist/cli/main.js");

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
  const proc = spawnTracked(process.execPath, [MAIN, ...args], {
    env: { ...process.env, SAGA_LOG_LEVEL: "info", ...env },
  });
  const { child, output } = proc;
  const listen = args[args.indexOf("--listen") + 1] ?? "127.0.0.1:50051";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`coordinator did not start:\n${output()}`)), 90_000);
    const check = () => {
      if (output().includes("coordinator ready")) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on("data", check);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`coordinator exited with ${code}:\n${output()}`));
    });
  });
  const client = new CoordinatorServiceClient(listen, credentials.createInsecure());
  return {
    child,
    address: listen,
    client,
    output,
    kill: (signal) => {
      client.close();
      return proc.kill(signal);
    },
  };
}
