import { type ChannelCredentials, credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { ParticipantServiceClient } from "@saga-coordinator/proto";
import type {
  CallOutcome,
  CompensateCall,
  ExecuteCall,
  ParticipantTransport,
} from "./participant-transport.js";

export interface GrpcParticipantTransportOptions {
  /** A participant's channel is closed after this long without a call (default 5 min). */
  idleCloseMs?: number;
  /** Default: plaintext. */
  credentials?: ChannelCredentials;
  /** Largest Execute output accepted; a larger answer is refused by grpc and reported "unrecordable" (default 1 MiB). */
  maxOutputBytes?: number;
  /** Credentials of its own for an address (a registered participant with TLS settings of its own). */
  channelFor?: (address: string) => ParticipantChannel | undefined;
}

/** How to reach one participant address when it differs from the transport's default. */
export interface ParticipantChannel {
  credentials: ChannelCredentials;
  /** The name the participant's certificate carries, when it is not the address's host. */
  serverName?: string;
}

const DEFAULT_IDLE_CLOSE_MS = 5 * 60_000;

interface CachedClient {
  client: ParticipantServiceClient;
  lastUsed: number;
  inFlight: number;
}

/**
 * gRPC transport with one long-lived client (HTTP/2 channel) per participant
 * address. Each attempt is sent with the step's timeout as its deadline. A
 * channel stops reconnecting a minute after its last call (grpc's idle mode)
 * and is closed and forgotten after `idleCloseMs`: sagas that named thousands
 * of addresses, dead ones included, leave no connect() storm and no memory
 * behind once they end.
 */
export class GrpcParticipantTransport implements ParticipantTransport {
  private readonly clients = new Map<string, CachedClient>();
  private readonly idleCloseMs: number;
  private readonly credentials: ChannelCredentials;
  private readonly maxOutputBytes: number;
  private readonly channelFor: (address: string) => ParticipantChannel | undefined;
  private readonly sweeper: NodeJS.Timeout;

  constructor(options: GrpcParticipantTransportOptions = {}) {
    this.idleCloseMs = options.idleCloseMs ?? DEFAULT_IDLE_CLOSE_MS;
    this.credentials = options.credentials ?? credentials.createInsecure();
    this.maxOutputBytes = options.maxOutputBytes ?? 1024 * 1024;
    this.channelFor = options.channelFor ?? (() => undefined);
    this.sweeper = setInterval(() => this.closeIdle(), Math.min(60_000, this.idleCloseMs));
    this.sweeper.unref();
  }

  /** Channels currently open (for tests and metrics). */
  get openChannels(): number {
    return this.clients.size;
  }

  execute(address: string, call: ExecuteCall, timeoutMs: number): Promise<CallOutcome> {
    return this.using(address, (client) => this.sendExecute(client, call, timeoutMs));
  }

  compensate(address: string, call: CompensateCall, timeoutMs: number): Promise<CallOutcome> {
    return this.using(address, (client) => this.sendCompensate(client, call, timeoutMs));
  }

  close(): void {
    clearInterval(this.sweeper);
    for (const cached of this.clients.values()) cached.client.close();
    this.clients.clear();
  }

  /** Closes the channels of addresses with no call in flight and none for idleCloseMs. */
  closeIdle(now = Date.now()): void {
    for (const [address, cached] of this.clients) {
      if (cached.inFlight > 0 || now - cached.lastUsed < this.idleCloseMs) continue;
      cached.client.close();
      this.clients.delete(address);
    }
  }

  private async using(
    address: string,
    send: (client: ParticipantServiceClient) => Promise<CallOutcome>,
  ): Promise<CallOutcome> {
    const cached = this.client(address);
    cached.inFlight++;
    cached.lastUsed = Date.now();
    try {
      return await send(cached.client);
    } finally {
      cached.inFlight--;
      cached.lastUsed = Date.now();
    }
  }

  private sendExecute(client: ParticipantServiceClient, call: ExecuteCall, timeoutMs: number) {
    return new Promise<CallOutcome>((resolve) => {
      client.execute(
        { ...call, payload: Buffer.from(call.payload), dependencyOutputs: toBuffers(call.dependencyOutputs) },
        new Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, res) =>
          resolve(err ? classify(err, "execute") : { ok: true, output: new Uint8Array(res.output) }),
      );
    });
  }

  private sendCompensate(client: ParticipantServiceClient, call: CompensateCall, timeoutMs: number) {
    return new Promise<CallOutcome>((resolve) => {
      client.compensate(
        { ...call, payload: Buffer.from(call.payload), executeOutput: Buffer.from(call.executeOutput) },
        new Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err) => resolve(err ? classify(err, "compensate") : { ok: true, output: new Uint8Array() }),
      );
    });
  }

  private client(address: string): CachedClient {
    let cached = this.clients.get(address);
    if (!cached) {
      const own = this.channelFor(address);
      const client = new ParticipantServiceClient(address, own?.credentials ?? this.credentials, {
        ...(own?.serverName ? { "grpc.ssl_target_name_override": own.serverName } : {}),
        // Reconnect quickly after a participant restarts instead of waiting out grpc's default 120s cap.
        "grpc.max_reconnect_backoff_ms": 2000,
        "grpc.initial_reconnect_backoff_ms": 100,
        // No reconnecting to an address nobody calls any more (grpc's default: 30 min).
        "grpc.client_idle_timeout_ms": 60_000,
        // Room for the output plus the response's framing; anything larger is never buffered whole.
        "grpc.max_receive_message_length": this.maxOutputBytes + 64 * 1024,
      });
      cached = { client, lastUsed: Date.now(), inFlight: 0 };
      this.clients.set(address, cached);
    }
    return cached;
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
  // grpc-js refused an answer over the channel's receive limit: the step ran, its output is too large to keep.
  if (
    phase === "execute" &&
    err.code === status.RESOURCE_EXHAUSTED &&
    /larger than max/i.test(err.details ?? "")
  )
    return {
      ok: false,
      failure: "unrecordable",
      error: `the participant's output is too large: ${err.details}`,
    };
  if (business && phase === "execute") return { ok: false, failure: "business", error };
  if (PERMANENT_CODES.has(err.code)) return { ok: false, failure: "permanent", error };
  if (err.code === status.DEADLINE_EXCEEDED) return { ok: false, failure: "timeout", error };
  return { ok: false, failure: "transient", error };
}

function toBuffers(map: Record<string, Uint8Array>): Record<string, Buffer> {
  return Object.fromEntries(Object.entries(map).map(([k, v]) => [k, Buffer.from(v)]));
}
