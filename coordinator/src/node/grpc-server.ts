import { createRequire } from "node:module";
import path from "node:path";
import { Server, ServerCredentials, type ServerInterceptor } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import {
  type AdminServiceServer,
  AdminServiceService,
  type CoordinatorServiceServer,
  CoordinatorServiceService,
  decodeStringsStrictly,
} from "@saga-coordinator/proto";
import { HealthImplementation } from "grpc-health-check";
import { guardDecoding, rejectUndecodable } from "../api/decode-guard.js";

const require = createRequire(import.meta.url);

export interface RunningServer {
  server: Server;
  port: number;
  health: HealthImplementation;
}

/**
 * The proto files served by reflection: ours from @saga-coordinator/proto and
 * the standard health service from grpc-health-check. `grpcurl list` works;
 * describing messages with map fields does not, because @grpc/reflection names
 * map entries differently from protoc (grpcurl issue #519), so the docs tell
 * grpcurl users to pass `-import-path proto -proto saga/v1/....proto`.
 */
function protoFiles(): { includeDirs: string[]; files: string[] } {
  const ours = path.dirname(require.resolve("@saga-coordinator/proto/package.json"));
  const health = path.join(path.dirname(require.resolve("grpc-health-check/package.json")), "proto");
  return {
    includeDirs: [ours, health],
    files: [
      "saga/v1/coordinator.proto",
      "saga/v1/admin.proto",
      "saga/v1/saga.proto",
      "health/v1/health.proto",
    ],
  };
}

/** A gRPC server with the client and admin APIs, standard health checking and reflection. */
export async function startGrpcServer(
  listen: string,
  coordinator: CoordinatorServiceServer,
  admin: AdminServiceServer,
  serverCredentials: ServerCredentials = ServerCredentials.createInsecure(),
  interceptors: ServerInterceptor[] = [],
  /** Largest request accepted: a saga's payload budget plus room for the rest of the request. */
  maxRequestBytes = 64 * 1024 * 1024,
): Promise<RunningServer> {
  // Invalid UTF-8 in a string field fails decoding (INVALID_ARGUMENT) instead of becoming U+FFFD.
  decodeStringsStrictly();
  const server = new Server({
    "grpc.max_receive_message_length": maxRequestBytes,
    interceptors: [rejectUndecodable, ...interceptors],
  });
  server.addService(guardDecoding(CoordinatorServiceService), coordinator);
  server.addService(guardDecoding(AdminServiceService), admin);
  const health = new HealthImplementation({
    "": "NOT_SERVING",
    "saga.v1.CoordinatorService": "NOT_SERVING",
    "saga.v1.AdminService": "NOT_SERVING",
  });
  health.addToServer(server);
  const { includeDirs, files } = protoFiles();
  const definitions = loadSync(files, { includeDirs, keepCase: false });
  new ReflectionService(definitions).addToServer(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(listen, serverCredentials, (err, bound) => (err ? reject(err) : resolve(bound))),
  );
  return { server, port, health };
}

export function setServing(health: HealthImplementation, serving: boolean): void {
  const value = serving ? "SERVING" : "NOT_SERVING";
  for (const service of ["", "saga.v1.CoordinatorService", "saga.v1.AdminService"])
    health.setStatus(service, value);
}

export function shutdownServer(server: Server, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, timeoutMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
