import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import {
  type ChannelCredentials,
  type ChannelOptions,
  type Client,
  credentials,
  makeGenericClientConstructor,
  type ServiceDefinition,
} from "@grpc/grpc-js";
import { type UnaryMethod, unaryCall } from "./unary-call.js";

/** grpc.health.v1 serving status, as the health service's proto enum name. */
export type ServingStatus = "UNKNOWN" | "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";

const STATUSES: ServingStatus[] = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

// grpc.health.v1.Health/Check by hand: two one-field messages. No .proto file
// is read at run time, so the conformance kit bundles into a single file.
const healthService: ServiceDefinition = {
  check: {
    path: "/grpc.health.v1.Health/Check",
    requestStream: false,
    responseStream: false,
    // HealthCheckRequest { string service = 1; }
    requestSerialize: ({ service }: { service: string }) =>
      Buffer.from(service ? new BinaryWriter().uint32(10).string(service).finish() : new Uint8Array()),
    requestDeserialize: (bytes: Buffer) => ({ service: readField1(bytes, (r) => r.string()) ?? "" }),
    // HealthCheckResponse { ServingStatus status = 1; }
    responseSerialize: ({ status }: { status: ServingStatus }) =>
      Buffer.from(new BinaryWriter().uint32(8).int32(STATUSES.indexOf(status)).finish()),
    responseDeserialize: (bytes: Buffer) => ({
      status: STATUSES[readField1(bytes, (r) => r.int32()) ?? 0] ?? "UNKNOWN",
    }),
  },
};

/** Field 1 of a message, read with `read`, or undefined when absent. */
function readField1<T>(bytes: Uint8Array, read: (reader: BinaryReader) => T): T | undefined {
  const reader = new BinaryReader(bytes);
  let value: T | undefined;
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && (wireType === WireType.Varint || wireType === WireType.LengthDelimited))
      value = read(reader);
    else reader.skip(wireType);
  }
  return value;
}

type HealthClient = Client & {
  check: UnaryMethod<{ service: string }, { status: ServingStatus }>;
};

const HealthClientConstructor = makeGenericClientConstructor(
  healthService,
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
