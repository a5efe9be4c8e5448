import { credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { ParticipantServiceClient } from "@saga-coordinator/proto";
import type {
  CallOutcome,
  CompensateCall,
  ExecuteCall,
  ParticipantTransport,
} from "./participant-transport.js";

/**
 * gRPC transport with one long-lived client (HTTP/2 channel) per participant
 * address. Each attempt is sent with the step's timeout as its deadline.
 */
export class GrpcParticipantTransport implements ParticipantTransport {
  private readonly clients = new Map<string, ParticipantServiceClient>();

  execute(address: string, call: ExecuteCall, timeoutMs: number): Promise<CallOutcome> {
    return new Promise((resolve) => {
      this.client(address).execute(
        { ...call, payload: Buffer.from(call.payload), dependencyOutputs: toBuffers(call.dependencyOutputs) },
        new Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, res) =>
          resolve(err ? classify(err, "execute") : { ok: true, output: new Uint8Array(res.output) }),
      );
    });
  }

  compensate(address: string, call: CompensateCall, timeoutMs: number): Promise<CallOutcome> {
    return new Promise((resolve) => {
      this.client(address).compensate(
        { ...call, payload: Buffer.from(call.payload), executeOutput: Buffer.from(call.executeOutput) },
        new Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err) => resolve(err ? classify(err, "compensate") : { ok: true, output: new Uint8Array() }),
      );
    });
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  private client(address: string): ParticipantServiceClient {
    let client = this.clients.get(address);
    if (!client) {
      client = new ParticipantServiceClient(address, credentials.createInsecure(), {
        // Reconnect quickly after a participant restarts instead of waiting out grpc's default 120s cap.
        "grpc.max_reconnect_backoff_ms": 2000,
        "grpc.initial_reconnect_backoff_ms": 100,
      });
      this.clients.set(address, client);
    }
    return client;
  }
}

/**
 * Statuses that say the call was refused before it did anything and that the
 * same call will be refused again: the participant does not implement the
 * service or method, does not accept the coordinator's credentials, or rejects
 * the request itself. Only a fix of the participant or its configuration helps.
 * (grpc-js also reports a non-gRPC server's HTTP 401/403/404 as these.)
 */
const PERMANENT_CODES: ReadonlySet<number> = new Set([
  status.UNIMPLEMENTED,
  status.UNAUTHENTICATED,
  status.PERMISSION_DENIED,
  status.INVALID_ARGUMENT,
]);

/** The outcome rules of participant.proto. */
export function classify(err: ServiceError, phase: "execute" | "compensate"): CallOutcome {
  const error = `${status[err.code] ?? err.code}: ${err.details || err.message}`;
  const business = err.code === status.FAILED_PRECONDITION || err.code === status.ABORTED;
  if (business && phase === "execute") return { ok: false, failure: "business", error };
  if (PERMANENT_CODES.has(err.code)) return { ok: false, failure: "permanent", error };
  if (err.code === status.DEADLINE_EXCEEDED) return { ok: false, failure: "timeout", error };
  return { ok: false, failure: "transient", error };
}

function toBuffers(map: Record<string, Uint8Array>): Record<string, Buffer> {
  return Object.fromEntries(Object.entries(map).map(([k, v]) => [k, Buffer.from(v)]));
}
