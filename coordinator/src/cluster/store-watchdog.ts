import type { Logger } from "pino";

export interface StoreWatchdogOptions {
  /** The store counts as unreachable once no ping has succeeded for this long. */
  unavailableAfterMs: number;
  now?: () => number;
}

/**
 * Pings the store and says whether it can be reached. A node whose store has
 * not answered for `unavailableAfterMs` cannot drive its partitions (every
 * write fails), so it must give them to nodes that can; it takes them back
 * once the store answers again. One ping at a time: a ping that hangs is not
 * piled on, and its silence counts against the bound all the same.
 */
export class StoreWatchdog {
  private healthy = true;
  private lastOk: number;
  private lastCheck: number;
  private every = 1000;
  private pinging = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly listeners = new Set<(healthy: boolean) => void>();
  private readonly now: () => number;

  constructor(
    private readonly ping: () => Promise<void>,
    private readonly options: StoreWatchdogOptions,
    private readonly logger: Logger,
  ) {
    this.now = options.now ?? Date.now;
    this.lastOk = this.now();
    this.lastCheck = this.lastOk;
  }

  get isHealthy(): boolean {
    return this.healthy;
  }

  onChange(listener: (healthy: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Checks a few times per bound (at least every second). */
  start(): void {
    this.lastOk = this.now();
    this.lastCheck = this.lastOk;
    this.every = Math.max(50, Math.min(1000, Math.floor(this.options.unavailableAfterMs / 4)));
    this.timer = setInterval(() => this.check(), this.every);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.listeners.clear();
  }

  /** One round: judge the silence so far, and send a ping unless one is still out. */
  check(): void {
    const now = this.now();
    // Far longer since the last round than the period: this process was paused (SIGSTOP, a
    // long GC), and silence while it could not listen says nothing about the store.
    if (now - this.lastCheck > 3 * this.every) this.lastOk = Math.max(this.lastOk, now - this.every);
    this.lastCheck = now;
    if (this.healthy && this.now() - this.lastOk > this.options.unavailableAfterMs) {
      this.set(false);
      this.logger.error(
        { silentMs: this.now() - this.lastOk },
        "the saga store has not answered: giving up every partition and leaving the member list until it does",
      );
    }
    if (this.pinging) return;
    this.pinging = true;
    this.ping()
      .then(
        () => {
          this.lastOk = this.now();
          if (!this.healthy) {
            this.set(true);
            this.logger.info("the saga store answers again: rejoining the member list");
          }
        },
        () => undefined,
      )
      .finally(() => {
        this.pinging = false;
      });
  }

  private set(healthy: boolean): void {
    this.healthy = healthy;
    for (const listener of this.listeners) listener(healthy);
  }
}
