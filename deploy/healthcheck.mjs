#!/usr/bin/env node
// Exits 0 when a coordinator answers the standard gRPC health check
// (grpc.health.v1, service "") with SERVING, 1 otherwise. Used as the Docker
// healthcheck; works anywhere the repository's node_modules are reachable.
//
//   node deploy/healthcheck.mjs [host:port]
//
// Default target: 127.0.0.1 and the port of $SAGA_LISTEN (else 50051).
// With $SAGA_TLS_CERT set it speaks TLS, verifies the node against $SAGA_TLS_CA
// and presents the node's own certificate (for --tls-require-client-cert);
// $SAGA_TLS_SERVER_NAME is the name to expect in the node's certificate
// (default: localhost).
import { checkHealth, tlsChannelCredentials } from "@saga-coordinator/participant-sdk";

const env = process.env;
const port = (env.SAGA_LISTEN ?? "127.0.0.1:50051").split(":").pop();
const target = process.argv[2] ?? `127.0.0.1:${port}`;
const tls = Boolean(env.SAGA_TLS_CERT);
const creds = tlsChannelCredentials(tls, {
  ca: env.SAGA_TLS_CA,
  cert: env.SAGA_TLS_CERT,
  key: env.SAGA_TLS_KEY,
});
const options = tls ? { "grpc.ssl_target_name_override": env.SAGA_TLS_SERVER_NAME ?? "localhost" } : {};

try {
  const status = await checkHealth(target, "", 2_000, creds, options);
  if (status !== "SERVING") console.error(`${target}: ${status}`);
  process.exit(status === "SERVING" ? 0 : 1);
} catch (err) {
  console.error(`${target}: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
