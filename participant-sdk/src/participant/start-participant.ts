import { type ChannelOptions, Server, ServerCredentials } from "@grpc/grpc-js";
import { ParticipantServiceService } from "@saga-coordinator/proto";
import { HealthImplementation } from "grpc-health-check";
import type { Logger } from "pino";
import { Barrier, type BarrierOptions } from "../barrier/barrier.js";
import type { BarrierStore } from "../barrier/barrier-store.js";
import { MemoryBarrierStore } from "../barrier/memory-barrier-store.js";
import { defaultLogger } from "../logging/default-logger.js";
import { parseListenAddress } from "./listen-address.js";
import { participantService } from "./participant-service.js";
import { StepDispatcher } from "./step-dispatcher.js";
import type { StepHandlers } from "./step-handlers.js";
import { assertStepNames } from "./step-name.js";

export interface ParticipantOptions {
  /** "host:port" to listen on; port 0 picks a free one (read it back from `address`). */
  listen: string;
  /** The steps this participant implements, by step name. */
  steps: Record<string, StepHandlers>;
  /**
   * Where the idempotency barrier keeps its records. Default: a new
   * MemoryBarrierStore. `false` disables the barrier (every call runs the
   * handler: only for handlers that are idempotent on their own).
   */
  barrier?: BarrierStore | false;
  /** Lease length and in-progress wait of the barrier (see BarrierOptions). */
  barrierOptions?: Pick<BarrierOptions, "leaseMs" | "inProgressWaitMs">;
  /** Default: pino at level env LOG_LEVEL or "info". */
  logger?: Logger;
  /** Shut down gracefully on SIGTERM and SIGINT. Default false. */
  handleSignals?: boolean;
  /** How long shutdown() waits for in-flight calls before cancelling them. Default 30 s. */
  shutdownTimeoutMs?: number;
  /** Extra grpc-js server options. */
  serverOptions?: ChannelOptions;
  /**
   * Transport security. Default: plaintext. `tlsServerCredentials()` gives TLS
   * that asks for and verifies client certificates (mTLS).
   */
  credentials?: ServerCredentials;
  /**
   * Identities (certificate CN, or DNS/URI/IP subject alternative names) of the
   * coordinators allowed to call Execute and Compensate; anyone else gets
   * PERMISSION_DENIED before the barrier or a handler runs. Needs `credentials`
   * that verify client certificates. Default: any caller.
   */
  allowedCallers?: readonly string[];
}

export interface Participant {
  /** "host:port" it listens on, with the real port. */
  readonly address: string;
  readonly port: number;
  /**
   * Graceful stop: health turns NOT_SERVING, no new calls are accepted,
   * in-flight calls finish (cancelled after shutdownTimeoutMs). Idempotent.
   */
  shutdown(): Promise<void>;
  /** Settles when the participant has shut down, for whatever reason (e.g. SIGTERM). */
  readonly closed: Promise<void>;
}

const SERVICE_NAME = "saga.v1.ParticipantService";

/** Starts a gRPC server for saga.v1.ParticipantService plus grpc.health.v1 health. */
export async function startParticipant(options: ParticipantOptions): Promise<Participant> {
  assertStepNames(Object.keys(options.steps));
  const { host } = parseListenAddress(options.listen);
  const logger = options.logger ?? defaultLogger("participant");
  const barrier =
    options.barrier === false
      ? null
      : new Barrier(options.barrier ?? new MemoryBarrierStore(), {
          ...options.barrierOptions,
          onBackgroundError: (message, err) => logger.warn({ err }, message),
        });
  if (!barrier) logger.warn("barrier disabled: duplicate calls will run handlers again");
  if (options.barrier === undefined) {
    // Safe for tests and demos only: a restart forgets every record.
    if (process.env.NODE_ENV === "production") {
      throw new Error(
        "NODE_ENV=production needs a durable barrier store: pass `barrier:` (PostgresBarrierStore, MongoBarrierStore, ...) or, for a participant whose effects live only in memory, `barrier: new MemoryBarrierStore()` explicitly",
      );
    }
    logger.warn(
      "barrier records are kept in memory: after a restart a Compensate finds no record and undoes nothing, and a retried Execute runs again; pass `barrier: new MongoBarrierStore(db)` (or another durable store) in production",
    );
  }

  if (options.allowedCallers && !options.credentials)
    throw new Error(
      "allowedCallers needs TLS credentials that verify client certificates (tlsServerCredentials)",
    );
  if (options.allowedCallers?.length === 0)
    throw new Error("allowedCallers is empty: no coordinator could call; leave it out to accept any caller");
  const server = new Server(options.serverOptions);
  server.addService(
    ParticipantServiceService,
    participantService(new StepDispatcher(options.steps, barrier, logger), logger, options.allowedCallers),
  );
  const health = new HealthImplementation({ "": "SERVING", [SERVICE_NAME]: "SERVING" });
  health.addToServer(server);

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      options.listen,
      options.credentials ?? ServerCredentials.createInsecure(),
      (err, bound) => (err ? reject(err) : resolve(bound)),
    ),
  );
  const address = `${host}:${port}`;
  logger.info({ address, steps: Object.keys(options.steps) }, "participant listening");

  let resolveClosed: () => void = () => {};
  const closed = new Promise<void>((resolve) => {
    resolveClosed = resolve;
  });
  let stopping: Promise<void> | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, "shutting down");
    void shutdown();
  };
  const shutdown = () => {
    stopping ??= (async () => {
      if (options.handleSignals) {
        process.off("SIGTERM", onSignal);
        process.off("SIGINT", onSignal);
      }
      health.setStatus("", "NOT_SERVING");
      health.setStatus(SERVICE_NAME, "NOT_SERVING");
      await drain(server, options.shutdownTimeoutMs ?? 30_000, logger);
      logger.info({ address }, "participant stopped");
      resolveClosed();
    })();
    return stopping;
  };
  if (options.handleSignals) {
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  }
  return { address, port, shutdown, closed };
}

/** tryShutdown waits for in-flight calls; past the timeout they are cancelled. */
function drain(server: Server, timeoutMs: number, logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      logger.warn({ timeoutMs }, "in-flight calls did not finish in time; cancelling them");
      server.forceShutdown();
      resolve();
    }, timeoutMs);
    timer.unref();
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
