import {
  type ChannelCredentials,
  type ChannelOptions,
  type Client,
  credentials,
  makeGenericClientConstructor,
} from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { type UnaryMethod, unaryCall } from "./unary-call.js";

/** grpc.health.v1 serving status, as the health service's proto enum name. */
export type ServingStatus = "UNKNOWN" | "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";

type HealthClient = Client & {
  check: UnaryMethod<{ service: string }, { status: ServingStatus }>;
};

const HealthClientConstructor = makeGenericClientConstructor(
  healthService as Parameters<typeof makeGenericClientConstructor>[0],
  "grpc.health.v1.Health",
) as unknown as new (
  address: string,
  creds: ChannelCredentials,
  options?: ChannelOptions,
) => HealthClient;

/** Asks `target`'s standard gRPC health service for the status of `service` ("" = the whole server). */
export async function checkHealth(
  target: string,
  service = "",
  timeoutMs = 5_000,
  channelCredentials: ChannelCredentials = credentials.createInsecure(),
  channelOptions: ChannelOptions = {},
): Promise<ServingStatus> {
  const client = new HealthClientConstructor(target, channelCredentials, channelOptions);
  try {
    const res = await unaryCall(client, client.check, { service }, timeoutMs);
    return res.status;
  } finally {
    client.close();
  }
}
