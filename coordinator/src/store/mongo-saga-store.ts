import { type Collection, type Db, type Filter, MongoServerError } from "mongodb";
import type { SagaStatus } from "../engine/saga-state.js";
import {
  type EventDocument,
  fromDocument,
  fromEventDocument,
  labelPair,
  type SagaDocument,
  toDocument,
  toEventDocument,
} from "./mongo-saga-codec.js";
import type { SagaEventRecord, SagaRecord } from "./saga-record.js";
import type { InsertResult, ListQuery, PartitionSet, SagaStore } from "./saga-store.js";

const DUPLICATE_KEY = 11000;
const ACTIVE = ["RUNNING", "COMPENSATING"];

/**
 * MongoDB store: one document per saga, written only by conditional
 * single-document updates, plus an append-only events collection.
 *
 * History without transactions: each transition writes its events into the
 * saga document's `pendingEvents` (atomically with the state), then copies
 * them into the events collection under deterministic ids. A crash between
 * the two leaves them in the outbox; readers merge the outbox, and the next
 * get() flushes it. Duplicate-key errors on the copy are expected and ignored.
 */
export class MongoSagaStore implements SagaStore {
  private readonly sagas: Collection<SagaDocument>;
  private readonly history: Collection<EventDocument>;

  private constructor(
    private readonly db: Db,
    private readonly onClose: () => Promise<void>,
  ) {
    this.sagas = db.collection<SagaDocument>("sagas");
    this.history = db.collection<EventDocument>("saga_events");
  }

  static async open(db: Db, onClose: () => Promise<void> = async () => {}): Promise<MongoSagaStore> {
    const store = new MongoSagaStore(db, onClose);
    await store.sagas.createIndex({ partition: 1, nextWakeAt: 1 });
    await store.sagas.createIndex({ status: 1, partition: 1, _id: 1 });
    await store.sagas.createIndex({ createdAt: -1, _id: -1 });
    await store.history.createIndex({ sagaId: 1, sequence: 1 }, { unique: true });
    return store;
  }

  async insert(record: SagaRecord, events: SagaEventRecord[]): Promise<InsertResult> {
    try {
      await this.sagas.insertOne(toDocument(record, events));
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      const existing = await this.get(record.sagaId);
      if (!existing) throw err;
      return { inserted: false, existing };
    }
    await this.flush(events);
    return { inserted: true };
  }

  async get(sagaId: string): Promise<SagaRecord | null> {
    const doc = await this.sagas.findOne({ _id: sagaId });
    if (!doc) return null;
    if (doc.pendingEvents.length > 0) await this.flush(doc.pendingEvents.map(fromEventDocument));
    return fromDocument(doc);
  }

  async update(next: SagaRecord, expectedVersion: number, events: SagaEventRecord[]): Promise<boolean> {
    const { _id, ...fields } = toDocument(next, events);
    const result = await this.sagas.updateOne(
      { _id, version: expectedVersion, fence: { $lte: next.fence } },
      { $set: fields },
    );
    if (result.matchedCount !== 1) return false;
    await this.flush(events);
    return true;
  }

  async list(query: ListQuery): Promise<SagaRecord[]> {
    const filter: Filter<SagaDocument> = {};
    if (query.status) filter.status = query.status;
    if (query.sagaType) filter.sagaType = query.sagaType;
    const pairs = Object.entries(query.labels ?? {}).map(([k, v]) => labelPair(k, v));
    if (pairs.length > 0) filter.labelPairs = { $all: pairs };
    if (query.after) {
      const { createdAt, sagaId } = query.after;
      filter.$or = [{ createdAt: { $lt: createdAt } }, { createdAt, _id: { $lt: sagaId } }];
    }
    const docs = await this.sagas.find(filter).sort({ createdAt: -1, _id: -1 }).limit(query.limit).toArray();
    return docs.map(fromDocument);
  }

  async findDue(now: number, partitions: PartitionSet, limit: number): Promise<SagaRecord[]> {
    const filter: Filter<SagaDocument> = { nextWakeAt: { $ne: null, $lte: now } };
    if (partitions !== null) filter.partition = { $in: [...partitions] };
    const docs = await this.sagas.find(filter).sort({ nextWakeAt: 1 }).limit(limit).toArray();
    return docs.map(fromDocument);
  }

  async findActive(partitions: PartitionSet, limit: number, afterSagaId: string): Promise<SagaRecord[]> {
    const filter: Filter<SagaDocument> = { status: { $in: ACTIVE }, _id: { $gt: afterSagaId } };
    if (partitions !== null) filter.partition = { $in: [...partitions] };
    const docs = await this.sagas.find(filter).sort({ _id: 1 }).limit(limit).toArray();
    return docs.map(fromDocument);
  }

  async countByStatus(status: SagaStatus): Promise<number> {
    return this.sagas.countDocuments({ status });
  }

  async claimPartition(partition: number, fence: number): Promise<void> {
    await this.sagas.updateMany(
      { partition, fence: { $lt: fence } },
      { $set: { fence }, $inc: { version: 1 } },
    );
  }

  async events(sagaId: string, afterSequence: number, limit: number): Promise<SagaEventRecord[]> {
    const stored = await this.history
      .find({ sagaId, sequence: { $gt: afterSequence } })
      .sort({ sequence: 1 })
      .limit(limit)
      .toArray();
    const found = stored.map(fromEventDocument);
    const last = found.at(-1)?.sequence ?? afterSequence;
    if (found.length >= limit) return found;
    // Events of a transition whose copy has not landed yet are still in the outbox.
    const doc = await this.sagas.findOne({ _id: sagaId }, { projection: { pendingEvents: 1 } });
    const pending = (doc?.pendingEvents ?? []).map(fromEventDocument).filter((e) => e.sequence > last);
    return [...found, ...pending].slice(0, limit);
  }

  async ping(): Promise<void> {
    await this.db.command({ ping: 1 });
  }

  async close(): Promise<void> {
    await this.onClose();
  }

  private async flush(events: SagaEventRecord[]): Promise<void> {
    if (events.length === 0) return;
    try {
      await this.history.insertMany(events.map(toEventDocument), { ordered: false });
    } catch (err) {
      if (!isDuplicateKey(err) && !allDuplicates(err)) throw err;
    }
  }
}

function isDuplicateKey(err: unknown): boolean {
  return err instanceof MongoServerError && err.code === DUPLICATE_KEY;
}

function allDuplicates(err: unknown): boolean {
  const writeErrors = (err as { writeErrors?: { code: number }[] | { code: number } }).writeErrors;
  const list = Array.isArray(writeErrors) ? writeErrors : writeErrors ? [writeErrors] : [];
  return list.length > 0 && list.every((e) => e.code === DUPLICATE_KEY);
}
