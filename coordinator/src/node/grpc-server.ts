import { Server, ServerCredentials, type ServerInterceptor } from "@grpc/grpc-js";
import type { PackageDefinition } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import {
  type AdminServiceServer,
  AdminServiceService,
  type CoordinatorServiceServer,
  CoordinatorServiceService,
  decodeStringsStrictly,
  fileDescriptorProtos,
} from "@saga-coordinator/proto";
import { HealthImplementation } from "grpc-health-check";
import { guardDecoding, rejectUndecodable } from "../api/decode-guard.js";

export interface RunningServer {
  server: Server;
  port: number;
  health: HealthImplementation;
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
  // Reflection from the descriptors protoc would make (see fileDescriptorProtos): grpcurl can
  // list, describe and call every service, the health service included.
  const descriptors = { "saga.v1": { fileDescriptorProtos: fileDescriptorProtos() } };
  new ReflectionService(descriptors as unknown as PackageDefinition, {
    services: ["saga.v1.CoordinatorService", "saga.v1.AdminService", "grpc.health.v1.Health"],
  }).addToServer(server);
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
