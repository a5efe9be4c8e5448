import type {
  BarrierContent,
  BarrierMatch,
  BarrierRecord,
  BarrierStore,
} from "@saga-coordinator/participant-sdk";

/** What the barrier did with its store: one answered operation. */
export type StoreEvent =
  | { op: "insert"; record: BarrierRecord; existing: BarrierRecord | null }
  | { op: "update"; key: string; expected: BarrierMatch; content: BarrierContent; matched: boolean };

/** A store that lets a test wait until the barrier has done something with it (after the store answered). */
export class ObservedStore implements BarrierStore {
  private readonly waiters: { matches: (e: StoreEvent) => boolean; left: number; open: () => void }[] = [];

  constructor(private readonly inner: BarrierStore) {}

  /** Resolves once `times` operations answered from now on match. Register before causing them. */
  when(matches: (e: StoreEvent) => boolean, times = 1): Promise<void> {
    return new Promise((open) => this.waiters.push({ matches, left: times, open }));
  }

  async insertIfAbsent(record: BarrierRecord): Promise<BarrierRecord | null> {
    const existing = await this.inner.insertIfAbsent(record);
    this.notify({ op: "insert", record, existing });
    return existing;
  }

  async update(
    key: string,
    expected: BarrierMatch,
    content: BarrierContent,
    options?: object,
  ): Promise<boolean> {
    const matched = await this.inner.update(key, expected, content, options);
    this.notify({ op: "update", key, expected, content, matched });
    return matched;
  }

  delete(key: string, expected: BarrierMatch): Promise<boolean> {
    return this.inner.delete(key, expected);
  }

  get(key: string): Promise<BarrierRecord | null> {
    return this.inner.get(key);
  }

  private notify(event: StoreEvent): void {
    for (const w of [...this.waiters]) {
      if (!w.matches(event) || --w.left > 0) continue;
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.open();
    }
  }
}

/** The barrier found `key` held by a running call (it will wait or refuse with "in progress"). */
export const sawInProgress = (key: string) => (e: StoreEvent) =>
  e.op === "insert" && e.record.key === key && e.existing?.state === "executing";
