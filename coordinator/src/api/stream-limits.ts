/** Limits of long-lived streams (WatchSaga) per node and per caller. */
export interface StreamLimitOptions {
  perNode: number;
  perCaller: number;
}

/**
 * Counts open streams by caller. `open` answers a refusal message naming the
 * limit, or a release function to call once when the stream ends.
 */
export class StreamLimits {
  private total = 0;
  private readonly byCaller = new Map<string, number>();

  constructor(private readonly options: StreamLimitOptions) {}

  /** `caller` null: counted against the node only (a stream another node forwarded). */
  open(caller: string | null): { ok: true; release: () => void } | { ok: false; reason: string } {
    if (this.total >= this.options.perNode) {
      return {
        ok: false,
        reason: `this node already serves ${this.total} watch streams, its limit (--max-watch-streams); retry later or watch fewer sagas at once`,
      };
    }
    const mine = caller === null ? 0 : (this.byCaller.get(caller) ?? 0);
    if (caller !== null && mine >= this.options.perCaller) {
      return {
        ok: false,
        reason: `caller ${caller} already has ${mine} watch streams open on this node, the limit per caller (--max-watch-streams-per-caller)`,
      };
    }
    this.total++;
    if (caller !== null) this.byCaller.set(caller, mine + 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.total--;
        if (caller === null) return;
        const left = (this.byCaller.get(caller) ?? 1) - 1;
        if (left === 0) this.byCaller.delete(caller);
        else this.byCaller.set(caller, left);
      },
    };
  }

  get openStreams(): number {
    return this.total;
  }
}
