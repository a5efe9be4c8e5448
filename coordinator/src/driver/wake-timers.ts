/** A saga whose wake-up time has come. */
export interface DueSaga {
  sagaId: string;
  partition: number;
}

/**
 * In-memory wake-ups of the sagas this node drives, so that a retry backoff or
 * a lost-call deadline fires without scanning the store. A hashed timing
 * wheel: wake-ups are kept in slots of `slotMs`, a slot is handed out only
 * once its whole span has passed (a wake-up never fires early, at most one
 * slot late), and setting or clearing a wake-up costs O(1) however many sagas
 * wait. The store keeps every saga's nextWakeAt all the same: this is a cache
 * of it, and the driver's slow store poll finds whatever is not here.
 */
export class WakeTimers {
  private readonly slotOf = new Map<string, number>();
  private readonly slots = new Map<number, Map<string, number>>();
  /** The first slot not handed out yet. */
  private nextSlot: number;

  constructor(
    private readonly slotMs: number,
    now: number,
  ) {
    this.nextSlot = Math.floor(now / slotMs);
  }

  get size(): number {
    return this.slotOf.size;
  }

  /** Wake the saga at `due` (epoch ms), replacing its earlier wake-up; null clears it. */
  set(sagaId: string, partition: number, due: number | null): void {
    this.delete(sagaId);
    if (due === null) return;
    // Already past: the next slot handed out, i.e. at once.
    const slot = Math.max(Math.floor(due / this.slotMs), this.nextSlot);
    let entries = this.slots.get(slot);
    if (!entries) {
      entries = new Map();
      this.slots.set(slot, entries);
    }
    entries.set(sagaId, partition);
    this.slotOf.set(sagaId, slot);
  }

  delete(sagaId: string): void {
    const slot = this.slotOf.get(sagaId);
    if (slot === undefined) return;
    this.slotOf.delete(sagaId);
    const entries = this.slots.get(slot);
    entries?.delete(sagaId);
    if (entries?.size === 0) this.slots.delete(slot);
  }

  /** Drops the wake-ups of a partition this node no longer drives. */
  forgetPartition(partition: number): void {
    for (const [slot, entries] of this.slots) {
      for (const [sagaId, p] of entries) {
        if (p !== partition) continue;
        entries.delete(sagaId);
        this.slotOf.delete(sagaId);
      }
      if (entries.size === 0) this.slots.delete(slot);
    }
  }

  /** Removes and returns every wake-up whose slot has wholly passed by `now`. */
  takeDue(now: number): DueSaga[] {
    const due: DueSaga[] = [];
    const until = Math.floor(now / this.slotMs); // slots before this one have passed
    if (this.slots.size === 0) {
      this.nextSlot = Math.max(this.nextSlot, until);
      return due;
    }
    for (; this.nextSlot < until; this.nextSlot++) {
      const entries = this.slots.get(this.nextSlot);
      if (!entries) continue;
      this.slots.delete(this.nextSlot);
      for (const [sagaId, partition] of entries) {
        this.slotOf.delete(sagaId);
        due.push({ sagaId, partition });
      }
    }
    return due;
  }
}
