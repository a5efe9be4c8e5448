import { type BarrierContent, type BarrierMatch, type BarrierRecord, matches } from "./barrier-record.js";
import type { BarrierStore } from "./barrier-store.js";

/**
 * Barrier records in this process's memory. Each method runs without an
 * `await` inside, so it is atomic on Node's single thread. Records are lost
 * when the process exits: use it for tests, development and participants
 * whose effects are in memory too; use MongoBarrierStore otherwise.
 */
export class MemoryBarrierStore implements BarrierStore {
  private readonly records = new Map<string, BarrierRecord>();

  async insertIfAbsent(record: BarrierRecord): Promise<BarrierRecord | null> {
    const existing = this.records.get(record.key);
    if (existing) return copy(existing);
    this.records.set(record.key, copy(record));
    return null;
  }

  async update(key: string, expected: BarrierMatch, content: BarrierContent): Promise<boolean> {
    const existing = this.records.get(key);
    if (!existing || !matches(existing, expected)) return false;
    this.records.set(key, copy({ ...content, key, version: existing.version + 1 }));
    return true;
  }

  async delete(key: string, expected: BarrierMatch): Promise<boolean> {
    const existing = this.records.get(key);
    if (!existing || !matches(existing, expected)) return false;
    this.records.delete(key);
    return true;
  }

  async get(key: string): Promise<BarrierRecord | null> {
    const existing = this.records.get(key);
    return existing ? copy(existing) : null;
  }

  /** How many records are held (for tests and metrics). */
  get size(): number {
    return this.records.size;
  }
}

// Callers must never share a stored object: a mutation would bypass the atomic methods.
function copy(record: BarrierRecord): BarrierRecord {
  return record.output ? { ...record, output: new Uint8Array(record.output) } : { ...record };
}
