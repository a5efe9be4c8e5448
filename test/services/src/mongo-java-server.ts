import { existsSync } from "node:fs";
import { relative } from "node:path";
import { findOnPath, mongoJavaServerJar, repoRoot } from "./binaries.js";
import { freePort } from "./free-port.js";
import { ManagedProcess } from "./managed-process.js";
import { mongoAnswersPing } from "./probes.js";
import type { RunningService } from "./running-service.js";
import { localService, withFreshPorts } from "./service.js";

/**
 * The fallback: mongo-java-server (scripts/mongo-java-server, in memory, NOT
 * durable: a restart loses every document), or undefined when java or the jar is missing.
 */
export async function startMongoJavaServer(): Promise<RunningService | undefined> {
  const java = findOnPath("java");
  if (!java || !existsSync(mongoJavaServerJar)) return undefined;
  return withFreshPorts(async () => {
    const port = await freePort();
    const uri = `mongodb://127.0.0.1:${port}/`;
    const server = new ManagedProcess({
      name: "mongo-java-server",
      command: java,
      args: ["-jar", mongoJavaServerJar, "127.0.0.1", String(port)],
      ready: () => mongoAnswersPing(uri),
    });
    await server.start();
    const jar = relative(repoRoot, mongoJavaServerJar);
    const description = `mongo-java-server (in memory, not durable; ${jar}) on 127.0.0.1:${port}`;
    return localService({ url: uri, kind: "mongo-java-server", description, durable: false }, [server], {});
  });
}
