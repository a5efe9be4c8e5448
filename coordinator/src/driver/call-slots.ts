/**
 * Slots for participant calls: at most `maxTotal` in flight from this node and
 * at most `maxPerParticipant` to any one participant, so one slow participant
 * cannot take every slot from the others. Calls past a cap wait in a queue per
 * participant; participants with room are served in turn (round robin), each
 * queue oldest first.
 */
export class CallSlots<T> {
  private total = 0;
  private readonly running = new Map<string, number>();
  /** Map order is the round robin: a participant served moves to the back. */
  private readonly waiting = new Map<string, T[]>();
  private waitingTotal = 0;

  constructor(
    private readonly maxTotal: number,
    private readonly maxPerParticipant: number,
  ) {}

  /** Takes a slot for a call to `participant` if both caps allow it. */
  tryTake(participant: string): boolean {
    if (!this.hasRoom(participant)) return false;
    this.take(participant);
    return true;
  }

  release(participant: string): void {
    this.total--;
    const left = (this.running.get(participant) ?? 1) - 1;
    if (left === 0) this.running.delete(participant);
    else this.running.set(participant, left);
  }

  enqueue(participant: string, item: T): void {
    const queue = this.waiting.get(participant);
    if (queue) queue.push(item);
    else this.waiting.set(participant, [item]);
    this.waitingTotal++;
  }

  /** The next waiting call that may run now, with its slot already taken; null when none may. */
  nextRunnable(): { participant: string; item: T } | null {
    if (this.total >= this.maxTotal) return null;
    for (const [participant, queue] of this.waiting) {
      if (!this.hasRoom(participant)) continue;
      const item = queue.shift() as T;
      this.waiting.delete(participant);
      if (queue.length > 0) this.waiting.set(participant, queue);
      this.waitingTotal--;
      this.take(participant);
      return { participant, item };
    }
    return null;
  }

  /** Empties every queue, returning what waited. */
  drain(): T[] {
    const all = [...this.waiting.values()].flat();
    this.waiting.clear();
    this.waitingTotal = 0;
    return all;
  }

  get inFlight(): number {
    return this.total;
  }

  get queued(): number {
    return this.waitingTotal;
  }

  private hasRoom(participant: string): boolean {
    return this.total < this.maxTotal && (this.running.get(participant) ?? 0) < this.maxPerParticipant;
  }

  private take(participant: string): void {
    this.total++;
    this.running.set(participant, (this.running.get(participant) ?? 0) + 1);
  }
}
