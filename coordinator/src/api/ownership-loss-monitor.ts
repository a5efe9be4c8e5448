import { setMaxListeners } from "node:events";
import type { PartitionOwnership } from "../driver/partition-ownership.js";

/** A watch's hold on "this node drives the partition": `signal` aborts when that stops being true. */
export interface OwnershipHold {
  signal: AbortSignal;
  release(): void;
}

interface Held {
  fence: number;
  controller: AbortController;
  holders: number;
}

/**
 * Tells the watches served from this node's event bus when the node stops
 * driving their partition (lost, handed over, draining, or re-claimed with a
 * new fence): from then on the bus no longer carries the saga's events, and
 * the watch must be routed again. Checked in memory, once per partition per
 * tick for all watches together; the timer runs only while a watch holds one.
 */
export class OwnershipLossMonitor {
  private readonly held = new Map<number, Held>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly ownership: PartitionOwnership,
    private readonly checkIntervalMs = 200,
  ) {}

  /** Null when this node does not drive `partition` now. */
  hold(partition: number): OwnershipHold | null {
    const fence = this.ownership.fenceFor(partition);
    if (fence === null || this.ownership.isDraining(partition)) return null;
    let held = this.held.get(partition);
    if (held && held.fence !== fence) {
      this.lose(partition, held);
      held = undefined;
    }
    if (!held) {
      held = { fence, controller: new AbortController(), holders: 0 };
      // Every watch of the partition listens on this one signal.
      setMaxListeners(0, held.controller.signal);
      this.held.set(partition, held);
    }
    const entry = held;
    entry.holders++;
    this.timer ??= setInterval(() => this.check(), this.checkIntervalMs).unref();
    let released = false;
    return {
      signal: entry.controller.signal,
      release: () => {
        if (released) return;
        released = true;
        if (--entry.holders === 0 && this.held.get(partition) === entry) this.held.delete(partition);
        this.stopTimerIfIdle();
      },
    };
  }

  /** Partitions held by at least one watch (for tests and metrics). */
  heldPartitions(): number[] {
    return [...this.held.keys()];
  }

  private check(): void {
    for (const [partition, held] of this.held) {
      const fence = this.ownership.fenceFor(partition);
      if (fence !== held.fence || this.ownership.isDraining(partition)) this.lose(partition, held);
    }
    this.stopTimerIfIdle();
  }

  private lose(partition: number, held: Held): void {
    this.held.delete(partition);
    held.controller.abort();
  }

  private stopTimerIfIdle(): void {
    if (this.held.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}
