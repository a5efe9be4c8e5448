/** Time as the driver sees it: the current time and a repeating timer. */
export interface Clock {
  now(): number;
  /** Calls `fn` every `ms` until the returned function is called. */
  every(ms: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  every(ms, fn) {
    const timer = setInterval(fn, ms);
    // Timers must never keep a stopping process alive.
    timer.unref();
    return () => clearInterval(timer);
  },
};

/**
 * A clock that moves only when told to, for tests of code that polls: `tick`
 * advances time and runs every repeating timer that came due, in order.
 */
export class ManualClock implements Clock {
  private timers: { every: number; due: number; fn: () => void }[] = [];

  constructor(private time = 1_000_000) {}

  now(): number {
    return this.time;
  }

  every(ms: number, fn: () => void): () => void {
    const timer = { every: ms, due: this.time + ms, fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }

  /** Advances time by `ms`, firing each timer once per period it crossed. */
  tick(ms: number): void {
    const until = this.time + ms;
    for (;;) {
      const next = this.timers.filter((t) => t.due <= until).sort((a, b) => a.due - b.due)[0];
      if (!next) break;
      this.time = next.due;
      next.due += next.every;
      next.fn();
    }
    this.time = until;
  }
}
