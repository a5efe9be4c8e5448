import { findOnPath } from "./binaries.js";
import { freePort } from "./free-port.js";
import { mongoAnswersPing } from "./probes.js";
import type { RunningService } from "./running-service.js";
import { startSingleProcessService } from "./service.js";

/** `mongod` on PATH on a free port with a temp dbpath, or undefined when it is not installed. */
export async function startLocalMongod(): Promise<RunningService | undefined> {
  const mongod = findOnPath("mongod");
  if (!mongod) return undefined;
  return startSingleProcessService("saga-test-mongod-", async (dbPath) => {
    const port = await freePort();
    const uri = `mongodb://127.0.0.1:${port}/`;
    // biome-ignore format: one flag and its value per line
    const args = [
      "--dbpath", dbPath, "--port", String(port), "--bind_ip", "127.0.0.1", "--nounixsocket", "--quiet",
    ];
    return {
      spec: { name: "mongod", command: mongod, args, ready: () => mongoAnswersPing(uri) },
      fields: {
        url: uri,
        kind: "mongod",
        description: `mongod (local ${mongod}) on 127.0.0.1:${port}`,
        durable: true,
      },
    };
  });
}
