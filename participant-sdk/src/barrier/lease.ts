import { ExponentialBackoff, handleAll, retry } from "cockatiel";
import type { BarrierContent, BarrierState } from "./barrier-record.js";
import type { BarrierStore, BarrierWriteOptions } from "./barrier-store.js";

/** About 3 s of retries, well inside the default 30 s lease. */
const FINAL_WRITE_RETRY = retry(handleAll, {
  maxAttempts: 6,
  backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 1_000 }),
});

/**
 * The claim of one running handler on its step's record ("executing" or
 * "compensating"). While the handler runs the lease is renewed every third of
 * its length, so it only expires when the process died or stalled. Every
 * write is conditional on state + owner, so a call that lost its lease to a
 * takeover can no longer change the record.
 */
export class Lease {
  private readonly lost = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private renewing: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly store: BarrierStore,
    readonly key: string,
    readonly owner: string,
    private readonly state: BarrierState,
    private readonly content: BarrierContent,
    private readonly leaseMs: number,
    private readonly clock: () => number,
    private readonly onRenewalError: (err: unknown) => void,
  ) {
    this.timer = setInterval(() => this.renew(), Math.max(1, Math.floor(leaseMs / 3)));
    // A lease must never keep a process alive on its own.
    this.timer.unref();
  }

  /** Aborted when a renewal finds the record taken over. */
  get signal(): AbortSignal {
    return this.lost.signal;
  }

  /**
   * Writes the record's final content if this call still holds it. Stops renewing first. A store
   * error is retried briefly: once the handler's effect is applied, losing the record would let the
   * lease expire and a retry run the handler again. Inside the caller's session it is not retried:
   * the error must reach the caller's transaction.
   */
  async finish(content: BarrierContent, options?: BarrierWriteOptions): Promise<boolean> {
    await this.stop();
    const write = () =>
      this.store.update(this.key, { state: this.state, owner: this.owner }, content, options);
    return options?.session ? write() : FINAL_WRITE_RETRY.execute(write);
  }

  /** Deletes the record if this call still holds it. */
  async drop(): Promise<boolean> {
    await this.stop();
    return this.store.delete(this.key, { state: this.state, owner: this.owner });
  }

  private async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.renewing;
  }

  private renew(): void {
    if (this.stopped) return;
    const now = this.clock();
    this.renewing = this.store
      .update(
        this.key,
        { state: this.state, owner: this.owner },
        { ...this.content, leaseUntil: now + this.leaseMs, updatedAt: now },
      )
      .then((held) => {
        if (!held && !this.stopped) {
          clearInterval(this.timer);
          this.lost.abort(new Error(`lease on ${this.key} was taken over`));
        }
      })
      // A failed renewal is not a lost lease: the next one may get through before expiry.
      .catch(this.onRenewalError);
  }
}
