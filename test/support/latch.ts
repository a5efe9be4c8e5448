// Explicit signals for ordering events in tests: a test waits for the thing
// it needs to have happened, never for a guessed amount of time (CI runs on a
// loaded 2-core machine, where any fixed delay can be too short).

/** A one-shot signal: `open()` resolves `opened`; later calls do nothing. */
export interface Latch<T = void> {
  readonly opened: Promise<T>;
  readonly isOpen: boolean;
  open(value: T): void;
}

export function latch<T = void>(): Latch<T> {
  let resolve: (value: T) => void = () => {};
  let isOpen = false;
  const opened = new Promise<T>((r) => {
    resolve = r;
  });
  return {
    opened,
    get isOpen() {
      return isOpen;
    },
    open(value: T) {
      if (isOpen) return;
      isOpen = true;
      resolve(value);
    },
  };
}

/** Resolves once `promise` has settled or `signal` has fired, whichever comes first; says which. */
export async function settledBefore(promise: Promise<unknown>, signal: Promise<unknown>): Promise<boolean> {
  const settled = promise.then(
    () => true,
    () => true,
  );
  return Promise.race([settled, signal.then(() => false)]);
}

/** Counts occurrences of something and lets a test wait until it has happened `n` times. */
export class Counter {
  private count = 0;
  private readonly waiters: { n: number; open: () => void }[] = [];

  get value(): number {
    return this.count;
  }

  bump(): void {
    this.count++;
    for (const w of this.waiters.filter((x) => x.n <= this.count)) {
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.open();
    }
  }

  /** Resolves once the count reaches `n` (at once if it already has). */
  reached(n: number): Promise<void> {
    if (this.count >= n) return Promise.resolve();
    return new Promise((open) => this.waiters.push({ n, open }));
  }
}

/** A handler that signals when it is entered and then waits until the test opens its gate. */
export function gatedHandler<T>(result: T, onEnter: () => void = () => {}) {
  const entered = latch();
  const gate = latch();
  return {
    entered: entered.opened,
    release: () => gate.open(),
    handler: async (): Promise<T> => {
      onEnter();
      entered.open();
      await gate.opened;
      return result;
    },
  };
}
