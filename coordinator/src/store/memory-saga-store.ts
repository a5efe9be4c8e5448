import { isTerminal, type SagaStatus } from "../engine/saga-state.js";
import { compareNewestFirst, matchesListQuery } from "./list-order.js";
import type { SagaEventRecord, SagaRecord } from "./saga-record.js";
import type { InsertResult, ListQuery, PartitionSet, SagaStore } from "./saga-store.js";

const ACTIVE = new Set(["RUNNING", "COMPENSATING"]);

/**
 * In-memory store for dev mode and tests. Records are copied on the way in
 * and out so callers can never alias stored state.
 */
export class MemorySagaStore implements SagaStore {
  private readonly records = new Map<string, SagaRecord>();
  private readonly history = new Map<string, SagaEventRecord[]>();

  async insert(record: SagaRecord, events: SagaEventRecord[]): Promise<InsertResult> {
    const existing = this.records.get(record.sagaId);
    if (existing) return { inserted: false, existing: structuredClone(existing) };
    this.records.set(record.sagaId, structuredClone(record));
    this.history.set(record.sagaId, structuredClone(events));
    return { inserted: true };
  }

  async get(sagaId: string): Promise<SagaRecord | null> {
    const record = this.records.get(sagaId);
    return record ? structuredClone(record) : null;
  }

  async update(next: SagaRecord, expectedVersion: number, events: SagaEventRecord[]): Promise<boolean> {
    const current = this.records.get(next.sagaId);
    if (!current || current.version !== expectedVersion || current.fence > next.fence) return false;
    this.records.set(next.sagaId, structuredClone(next));
    this.history.get(next.sagaId)?.push(...structuredClone(events));
    return true;
  }

  async list(query: ListQuery): Promise<SagaRecord[]> {
    return [...this.records.values()]
      .filter((r) => matchesListQuery(r, query))
      .sort(compareNewestFirst)
      .slice(0, query.limit)
      .map((r) => structuredClone(r));
  }

  async findDue(now: number, partitions: PartitionSet, limit: number): Promise<SagaRecord[]> {
    return [...this.records.values()]
      .filter((r) => r.state.nextWakeAt !== null && r.state.nextWakeAt <= now)
      .filter((r) => partitions === null || partitions.has(r.partition))
      .sort((a, b) => (a.state.nextWakeAt ?? 0) - (b.state.nextWakeAt ?? 0))
      .slice(0, limit)
      .map((r) => structuredClone(r));
  }

  async findActive(partitions: PartitionSet, limit: number, afterSagaId: string): Promise<SagaRecord[]> {
    return [...this.records.values()]
      .filter((r) => ACTIVE.has(r.state.status) && r.sagaId > afterSagaId)
      .filter((r) => partitions === null || partitions.has(r.partition))
      .sort((a, b) => (a.sagaId < b.sagaId ? -1 : 1))
      .slice(0, limit)
      .map((r) => structuredClone(r));
  }

  async countByStatus(status: SagaStatus): Promise<number> {
    let n = 0;
    for (const record of this.records.values()) if (record.state.status === status) n++;
    return n;
  }

  async claimPartition(partition: number, fence: number): Promise<void> {
    for (const record of this.records.values()) {
      // Finished sagas are never written again, so only unfinished ones need the new fence.
      if (record.partition === partition && record.fence < fence && !isTerminal(record.state.status)) {
        record.fence = fence;
        record.version += 1;
      }
    }
  }

  async events(sagaId: string, afterSequence: number, limit: number): Promise<SagaEventRecord[]> {
    return (this.history.get(sagaId) ?? [])
      .filter((e) => e.sequence > afterSequence)
      .slice(0, limit)
      .map((e) => structuredClone(e));
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}
}
