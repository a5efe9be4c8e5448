#!/usr/bin/env node
// Exits 0 when a coordinator answers the standard gRPC health check
// (grpc.health.v1, service "") with SERVING, 1 otherwise. Used as the Docker
// healthcheck; works anywhere the repository's node_modules are reachable.
//
//   node deploy/healthcheck.mjs [host:port]
//
// Default target: 127.0.0.1 and the port of $SAGA_LISTEN (else 50051).
import { checkHealth } from "@saga-coordinator/participant-sdk";

const port = (process.env.SAGA_LISTEN ?? "127.0.0.1:50051").split(":").pop();
const target = process.argv[2] ?? `127.0.0.1:${port}`;

try {
  const status = await checkHealth(target, "", 2_000);
  if (status !== "SERVING") console.error(`${target}: ${status}`);
  process.exit(status === "SERVING" ? 0 : 1);
} catch (err) {
  console.error(`${target}: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
