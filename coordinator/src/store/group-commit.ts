/** The outcome of one operation inside a flushed batch. */
export type BatchOutcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

export interface GroupCommitOptions {
  /**
   * Most operations per flush. A full batch is flushed at once, even while
   * other flushes are under way (up to maxInFlight): servers that apply a
   * batch's writes one by one (FerretDB) then still overlap their commits.
   */
  maxBatch: number;
  /**
   * How long an operation may wait for company before a flush starts when no
   * flush is under way. 0: at the end of the current event-loop turn, so a lone
   * write is not slowed; batches still form while a flush is in flight.
   */
  delayMs: number;
  /** Flushes in flight at once (only full batches start a second one). */
  maxInFlight: number;
}

interface Pending<Op, R> {
  op: Op;
  resolve(value: R): void;
  reject(error: unknown): void;
}

/**
 * Group commit: operations submitted by many callers are written together, one
 * round trip per batch, and each caller learns its own operation's outcome.
 * While a flush is in flight new operations queue up and go out together in
 * the next one, so batches grow with load and shrink to one when idle.
 */
export class GroupCommit<Op, R> {
  private queue: Pending<Op, R>[] = [];
  private inFlight = 0;
  private scheduled: NodeJS.Immediate | NodeJS.Timeout | null = null;

  constructor(
    /** Writes the batch; returns one outcome per operation, in order, or throws to fail them all. */
    private readonly flushBatch: (ops: Op[]) => Promise<BatchOutcome<R>[]>,
    private readonly options: GroupCommitOptions,
  ) {}

  submit(op: Op): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ op, resolve, reject });
      if (this.queue.length >= this.options.maxBatch && this.inFlight < this.options.maxInFlight) {
        this.flushNow();
      } else if (this.inFlight === 0) {
        this.schedule();
      }
    });
  }

  /** Operations waiting for a flush (for tests and metrics). */
  get waiting(): number {
    return this.queue.length;
  }

  private schedule(): void {
    if (this.scheduled) return;
    const run = () => {
      this.scheduled = null;
      if (this.inFlight === 0) this.flushNow();
    };
    this.scheduled = this.options.delayMs > 0 ? setTimeout(run, this.options.delayMs) : setImmediate(run);
  }

  private flushNow(): void {
    if (this.queue.length === 0) return;
    const batch = this.queue.slice(0, this.options.maxBatch);
    this.queue = this.queue.slice(batch.length);
    this.inFlight++;
    this.flushBatch(batch.map((p) => p.op))
      .then(
        (outcomes) => {
          batch.forEach((pending, i) => {
            const outcome = outcomes[i];
            if (!outcome)
              pending.reject(new Error("group commit: the batch returned no outcome for an operation"));
            else if (outcome.ok) pending.resolve(outcome.value);
            else pending.reject(outcome.error);
          });
        },
        (error: unknown) => {
          for (const pending of batch) pending.reject(error);
        },
      )
      .finally(() => {
        this.inFlight--;
        // What queued up during this flush goes out now: one batch if nothing
        // else is in flight, and every further full batch in parallel.
        if (this.queue.length > 0 && this.inFlight === 0) this.flushNow();
        while (this.queue.length >= this.options.maxBatch && this.inFlight < this.options.maxInFlight) {
          this.flushNow();
        }
      });
  }
}
