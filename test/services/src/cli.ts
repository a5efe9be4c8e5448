#!/usr/bin/env node
import { startTestServices, TestServicesError } from "./find-services.js";

// `node test/services/dist/cli.js up`: starts etcd and a MongoDB-wire server the
// way the tests do (env vars, else local binaries, else containers), prints
// where they are, and keeps them up until SIGINT/SIGTERM. For benchmarking and
// debugging by hand:  eval "$(node test/services/dist/cli.js up | grep =)"  in another shell.

const USAGE = `usage: node test/services/dist/cli.js up [--own]
  up     start etcd + a MongoDB-wire server; print ETCD_ENDPOINTS=... and MONGODB_URI=...; stop on Ctrl-C
  --own  ignore ETCD_ENDPOINTS / MONGODB_URI and start servers of our own
  SAGA_TEST_MONGO=ferretdb-postgresql|mongod|mongo-java-server picks the MongoDB-wire server.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...flags] = argv;
  const unknown = flags.filter((f) => f !== "--own");
  if (command !== "up" || unknown.length > 0) {
    console.error(command === "up" ? `unknown flag: ${unknown.join(" ")}\n${USAGE}` : USAGE);
    return 2;
  }
  let services: Awaited<ReturnType<typeof startTestServices>>;
  try {
    services = await startTestServices({
      ignoreEnv: flags.includes("--own"),
      log: (line) => console.log(`# ${line}`),
    });
  } catch (error) {
    console.error(error instanceof TestServicesError ? error.message : error);
    return 1;
  }
  console.log(`ETCD_ENDPOINTS=${services.etcd.url}`);
  console.log(`MONGODB_URI=${services.mongo.url}`);
  console.log(`# MongoDB-wire server: ${services.mongo.kind}; Ctrl-C (or SIGTERM) stops them`);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
  console.log(`# ${signal}: stopping`);
  await services.stop();
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
