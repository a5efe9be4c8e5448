import type { MongoClient } from "mongodb";
import type { Logger } from "pino";

export interface MongoMonitorWatchdogOptions {
  /** A heartbeat still unfinished after this long means the monitor is stuck. */
  stuckAfterMs: number;
  /** Pause between attempts to connect again after the restart. */
  reconnectPauseMs?: number;
  now?: () => number;
}

/**
 * Restarts a MongoClient whose server monitor has stopped.
 *
 * The mongodb driver (7.9) can lose its monitor for good when the server dies:
 * a heartbeat that starts on a socket already destroyed (its 'close' event
 * still queued) writes into it, waits for a 'drain' that never comes, and
 * neither fails nor finishes. The server then stays Unknown and every
 * operation fails server selection until the process restarts, although the
 * server is back (seen when FerretDB was killed under load). Each heartbeat is
 * bounded by connectTimeoutMS, so one far older than that is this case; the
 * client is closed and connected again, which builds a new monitor.
 */
export class MongoMonitorWatchdog {
  private readonly startedAt = new Map<string, number>();
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;
  private restarting: Promise<void> | null = null;
  private stopped = false;
  /** Restarts done (for tests and logs). */
  restarts = 0;

  constructor(
    private readonly client: MongoClient,
    private readonly options: MongoMonitorWatchdogOptions,
    private readonly logger: Logger,
  ) {
    this.now = options.now ?? Date.now;
    client.on("serverHeartbeatStarted", (e) => this.startedAt.set(e.connectionId, this.now()));
    client.on("serverHeartbeatSucceeded", (e) => this.startedAt.delete(e.connectionId));
    client.on("serverHeartbeatFailed", (e) => this.startedAt.delete(e.connectionId));
  }

  start(checkEveryMs = 1000): void {
    this.timer = setInterval(() => this.check(), checkEveryMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }

  /** Restarts the client when a heartbeat has been running for longer than `stuckAfterMs`. */
  check(): Promise<void> {
    if (this.restarting || this.stopped) return this.restarting ?? Promise.resolve();
    const now = this.now();
    const stuck = [...this.startedAt].find(([, at]) => now - at > this.options.stuckAfterMs);
    if (!stuck) return Promise.resolve();
    const [server, at] = stuck;
    this.logger.warn(
      { server, heartbeatRunningMs: now - at },
      "the MongoDB driver's server monitor is stuck; reconnecting the client",
    );
    this.restarting = this.restart().finally(() => {
      this.restarting = null;
    });
    return this.restarting;
  }

  private async restart(): Promise<void> {
    this.restarts++;
    this.startedAt.clear();
    await this.client
      .close()
      .catch((err: unknown) => this.logger.warn({ err }, "closing the MongoDB client"));
    // A closed client does not connect on its own again, so keep trying until it does.
    for (let attempt = 1; !this.stopped; attempt++) {
      try {
        await this.client.connect();
        this.logger.info({ attempt }, "MongoDB client reconnected");
        return;
      } catch (err) {
        this.logger.warn({ err, attempt }, "reconnecting the MongoDB client failed; trying again");
        await new Promise((r) => setTimeout(r, this.options.reconnectPauseMs ?? 1000));
      }
    }
  }
}
