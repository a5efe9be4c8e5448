import { clusterRetryDelayMs } from "./retry-delay.js";

/**
 * Runs an async step one at a time. A request while it runs asks for one more
 * run after it; a failed run is retried after a capped, jittered backoff (and
 * requests meanwhile wait for that retry), so a flapping etcd costs a few
 * calls, never a pile of concurrent ones.
 */
export class SerialTask {
  private running = false;
  private again = false;
  private stopped = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private current: Promise<void> | null = null;

  constructor(
    private readonly step: () => Promise<void>,
    /** Told about each failure and when the retry comes. */
    private readonly onFailure: (err: unknown, retryInMs: number) => void,
  ) {}

  request(): void {
    if (this.stopped || this.retryTimer) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.again = false;
    this.current = this.step()
      .then(
        () => {
          this.failures = 0;
        },
        (err: unknown) => {
          if (this.stopped) return;
          this.failures++;
          const delay = clusterRetryDelayMs(this.failures);
          this.onFailure(err, delay);
          this.retryTimer = setTimeout(() => {
            this.retryTimer = null;
            this.request();
          }, delay);
          this.retryTimer.unref();
        },
      )
      .finally(() => {
        this.running = false;
        this.current = null;
        if (this.again) this.request();
      });
  }

  /** No run starts after this; resolves when the one under way (if any) has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.current;
  }
}
