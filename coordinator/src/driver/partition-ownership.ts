import type { PartitionSet } from "../store/saga-store.js";

/** Which partitions this node may drive, and the fencing token for each. */
export interface PartitionOwnership {
  /** The fencing token to write with, or null if this node does not own the partition now. */
  fenceFor(partition: number): number | null;
  owned(): PartitionSet;
  /** Called when a write was refused because a newer owner wrote first. */
  lost(partition: number): void;
  /**
   * True while the partition is being handed over: answers are still
   * recorded, but no new call is sent (the next owner re-sends what was
   * recorded as dispatched).
   */
  isDraining(partition: number): boolean;
}

/** A single node owns everything with fence 0 (dev mode, single-node production). */
export class SoleOwnership implements PartitionOwnership {
  fenceFor(): number {
    return 0;
  }
  owned(): PartitionSet {
    return null;
  }
  lost(): void {}
  isDraining(): boolean {
    return false;
  }
}
