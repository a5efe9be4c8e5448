import { isTerminal, type SagaStatus } from "../engine/saga-state.js";
import { compareNewestFirst, matchesListQuery } from "./list-order.js";
import type { SagaEventRecord, SagaRecord } from "./saga-record.js";
import type { InsertResult, ListQuery, PartitionSet, SagaStore } from "./saga-store.js";

const ACTIVE = new Set(["RUNNING", "COMPENSATING"]);

/** How many finished sagas dev mode keeps by default. */
export const DEFAULT_RETAIN_FINISHED = 10_000;

/**
 * In-memory store for dev mode and tests. Records are immutable values (the
 * state machine returns new objects and never changes its input), so they are
 * kept and handed out as they are: no copy per transition. Finished sagas are
 * kept up to `retainFinished`, oldest forgotten first, so a long dev session
 * does not grow without bound.
 */
export class MemorySagaStore implements SagaStore {
  private readonly records = new Map<string, SagaRecord>();
  private readonly history = new Map<string, SagaEventRecord[]>();
  /** Finished saga ids in the order they finished (a Set keeps insertion order). */
  private readonly finished = new Set<string>();
  private readonly fences = new Map<number, number>();

  constructor(private readonly retainFinished = DEFAULT_RETAIN_FINISHED) {}

  async insert(record: SagaRecord, events: SagaEventRecord[]): Promise<InsertResult> {
    const existing = this.records.get(record.sagaId);
    if (existing) return { inserted: false, existing };
    this.records.set(record.sagaId, record);
    this.history.set(record.sagaId, [...events]);
    this.noteFinished(record);
    const fence = this.fences.get(record.partition) ?? 0;
    return fence > record.fence ? { inserted: true, newerFence: fence } : { inserted: true };
  }

  async get(sagaId: string): Promise<SagaRecord | null> {
    return this.records.get(sagaId) ?? null;
  }

  async update(next: SagaRecord, expectedVersion: number, events: SagaEventRecord[]): Promise<boolean> {
    const current = this.records.get(next.sagaId);
    if (!current || current.version !== expectedVersion || current.fence > next.fence) return false;
    this.records.set(next.sagaId, next);
    this.history.get(next.sagaId)?.push(...events);
    this.noteFinished(next);
    return true;
  }

  async list(query: ListQuery): Promise<SagaRecord[]> {
    return [...this.records.values()]
      .filter((r) => matchesListQuery(r, query))
      .sort(compareNewestFirst)
      .slice(0, query.limit);
  }

  async findDue(now: number, partitions: PartitionSet, limit: number): Promise<SagaRecord[]> {
    const due: SagaRecord[] = [];
    for (const r of this.records.values()) {
      if (r.state.nextWakeAt === null || r.state.nextWakeAt > now) continue;
      if (partitions === null || partitions.has(r.partition)) due.push(r);
    }
    return due.sort((a, b) => (a.state.nextWakeAt ?? 0) - (b.state.nextWakeAt ?? 0)).slice(0, limit);
  }

  async findActive(partitions: PartitionSet, limit: number, afterSagaId: string): Promise<SagaRecord[]> {
    return [...this.records.values()]
      .filter((r) => ACTIVE.has(r.state.status) && r.sagaId > afterSagaId)
      .filter((r) => partitions === null || partitions.has(r.partition))
      .sort((a, b) => (a.sagaId < b.sagaId ? -1 : 1))
      .slice(0, limit);
  }

  async countByStatus(status: SagaStatus): Promise<number> {
    let n = 0;
    for (const record of this.records.values()) if (record.state.status === status) n++;
    return n;
  }

  async claimPartitions(partitions: readonly number[], fence: number): Promise<void> {
    for (const partition of partitions)
      this.fences.set(partition, Math.max(fence, this.fences.get(partition) ?? 0));
    const claimed = new Set(partitions);
    for (const record of this.records.values()) {
      // Finished sagas are never written again, so only unfinished ones need the new fence.
      if (claimed.has(record.partition) && record.fence < fence && !isTerminal(record.state.status)) {
        this.records.set(record.sagaId, { ...record, fence, version: record.version + 1 });
      }
    }
  }

  async events(sagaId: string, afterSequence: number, limit: number): Promise<SagaEventRecord[]> {
    return (this.history.get(sagaId) ?? []).filter((e) => e.sequence > afterSequence).slice(0, limit);
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}

  /** How many sagas are kept (finished ones included), for tests of the retention limit. */
  get size(): number {
    return this.records.size;
  }

  private noteFinished(record: SagaRecord): void {
    if (!isTerminal(record.state.status)) return;
    this.finished.add(record.sagaId);
    while (this.finished.size > this.retainFinished) {
      const oldest = this.finished.values().next().value as string;
      this.finished.delete(oldest);
      this.records.delete(oldest);
      this.history.delete(oldest);
    }
  }
}
