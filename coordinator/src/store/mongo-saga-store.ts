import { randomBytes } from "node:crypto";
import {
  type AnyBulkWriteOperation,
  type Collection,
  type Db,
  type Filter,
  MongoBulkWriteError,
} from "mongodb";
import type { SagaStatus } from "../engine/saga-state.js";
import { type BatchOutcome, GroupCommit, type GroupCommitOptions } from "./group-commit.js";
import {
  fromDocument,
  labelPair,
  type SagaDocument,
  toDocument,
  toStateFields,
  WITHOUT_HISTORY,
} from "./mongo-saga-codec.js";
import { DEFAULT_NAMESPACE } from "./saga-key.js";
import type { SagaEventRecord, SagaRecord } from "./saga-record.js";
import type { InsertResult, ListQuery, PartitionSet, SagaStore } from "./saga-store.js";
import { withStoreTimeout } from "./store-timeout.js";

const DUPLICATE_KEY = 11000;
const ACTIVE = ["RUNNING", "COMPENSATING"];

/** A match on these partitions; one partition (a takeover) is an equality, which any server serves from an index. */
function partitionMatch(partitions: Iterable<number>): number | { $in: number[] } {
  const list = [...partitions];
  return list.length === 1 ? (list[0] as number) : { $in: list };
}

/** Keys of one namespace: no "/" in the default one, else the "<namespace>/" prefix (an index range on _id). */
function namespaceMatch(namespace: string): Filter<SagaDocument>["_id"] {
  if (namespace === DEFAULT_NAMESPACE) return { $not: /\// };
  return { $regex: `^${namespace.replace(/[^a-z0-9-]/g, "")}/` };
}

export const DEFAULT_GROUP_COMMIT: GroupCommitOptions = { maxBatch: 32, delayMs: 0, maxInFlight: 8 };

/** Longest any store operation may stay pending (well over the driver's own socketTimeoutMS of 30 s). */
export const DEFAULT_OPERATION_TIMEOUT_MS = 60_000;

/** The fencing token of the newest owner of a partition, written before its sagas are stamped. */
interface PartitionFenceDocument {
  _id: number;
  fence: number;
}

type WriteOp =
  | { kind: "insert"; record: SagaRecord; doc: SagaDocument }
  | { kind: "update"; sagaId: string; token: string; op: AnyBulkWriteOperation<SagaDocument> };

type WriteResult =
  | { kind: "inserted" }
  | { kind: "duplicate" }
  | { kind: "newerFence"; fence: number }
  | boolean;

/**
 * MongoDB store: one document per saga, history included, written only by
 * conditional single-document writes.
 *
 * Group commit: inserts and transitions of many sagas go to the server in one
 * unordered bulkWrite per flush (see GroupCommit). Each write keeps its own
 * condition (version and fence), and each caller learns its own outcome, so a
 * failed condition is handled per saga exactly as with one write per round trip.
 */
export class MongoSagaStore implements SagaStore {
  private readonly sagas: Collection<SagaDocument>;
  private readonly fences: Collection<PartitionFenceDocument>;
  private readonly writes: GroupCommit<WriteOp, WriteResult>;
  /** Tags this store's writes, so a batch can tell which conditional updates it won. */
  private readonly writerId = randomBytes(6).toString("hex");
  private writeCount = 0;

  private constructor(
    private readonly db: Db,
    private readonly onClose: () => Promise<void>,
    groupCommit: GroupCommitOptions,
    private readonly operationTimeoutMs: number,
  ) {
    this.sagas = db.collection<SagaDocument>("sagas");
    this.fences = db.collection<PartitionFenceDocument>("partition_fences");
    this.writes = new GroupCommit((ops) => this.bounded(this.flush(ops), "saga writes"), groupCommit);
  }

  static async open(
    db: Db,
    onClose: () => Promise<void> = async () => {},
    groupCommit: GroupCommitOptions = DEFAULT_GROUP_COMMIT,
    operationTimeoutMs = DEFAULT_OPERATION_TIMEOUT_MS,
  ): Promise<MongoSagaStore> {
    const store = new MongoSagaStore(db, onClose, groupCommit, operationTimeoutMs);
    // Timers and recovery look only at open sagas, however many have finished.
    await store.sagas.createIndex({ open: 1, nextWakeAt: 1 });
    await store.sagas.createIndex({ open: 1, partition: 1, _id: 1 });
    await store.sagas.createIndex({ createdAt: -1, _id: -1 });
    return store;
  }

  async insert(record: SagaRecord, events: SagaEventRecord[]): Promise<InsertResult> {
    const result = await this.writes.submit({
      kind: "insert",
      record,
      doc: toDocument(record, events, this.nextToken()),
    });
    if (result === true || result === false) throw new Error("insert answered like an update");
    if (result.kind === "inserted") return { inserted: true };
    if (result.kind === "newerFence") return { inserted: true, newerFence: result.fence };
    const existing = await this.get(record.sagaId);
    if (!existing) throw new Error(`saga ${record.sagaId} was reported as existing but cannot be read`);
    return { inserted: false, existing };
  }

  async get(sagaId: string): Promise<SagaRecord | null> {
    // By _id alone: every MongoDB-wire server answers that from its primary key.
    const doc = await this.bounded(
      this.sagas.findOne({ _id: sagaId }, { projection: WITHOUT_HISTORY }),
      "get",
    );
    return doc ? fromDocument(doc) : null;
  }

  async update(next: SagaRecord, expectedVersion: number, events: SagaEventRecord[]): Promise<boolean> {
    const token = this.nextToken();
    const update: AnyBulkWriteOperation<SagaDocument> = {
      updateOne: {
        filter: { _id: next.sagaId, version: expectedVersion, fence: { $lte: next.fence } },
        update:
          events.length > 0
            ? { $set: toStateFields(next, token), $push: { history: { $each: events } } }
            : { $set: toStateFields(next, token) },
      },
    };
    const result = await this.writes.submit({ kind: "update", sagaId: next.sagaId, token, op: update });
    return result === true;
  }

  async list(query: ListQuery): Promise<SagaRecord[]> {
    const filter: Filter<SagaDocument> = {};
    if (query.status) filter.status = query.status;
    if (query.sagaType) filter.sagaType = query.sagaType;
    if (query.namespace) filter._id = namespaceMatch(query.namespace);
    const pairs = Object.entries(query.labels ?? {}).map(([k, v]) => labelPair(k, v));
    if (pairs.length > 0) filter.labelPairs = { $all: pairs };
    if (query.after) {
      const { createdAt, sagaId } = query.after;
      filter.$or = [{ createdAt: { $lt: createdAt } }, { createdAt, _id: { $lt: sagaId } }];
    }
    const docs = await this.bounded(
      this.sagas
        .find(filter, { projection: WITHOUT_HISTORY })
        .sort({ createdAt: -1, _id: -1 })
        .limit(query.limit)
        .toArray(),
      "list",
    );
    return docs.map(fromDocument);
  }

  async findDue(now: number, partitions: PartitionSet, limit: number): Promise<SagaRecord[]> {
    const filter: Filter<SagaDocument> = { open: true, nextWakeAt: { $ne: null, $lte: now } };
    if (partitions !== null) filter.partition = partitionMatch(partitions);
    const docs = await this.bounded(
      this.sagas.find(filter, { projection: WITHOUT_HISTORY }).sort({ nextWakeAt: 1 }).limit(limit).toArray(),
      "findDue",
    );
    return docs.map(fromDocument);
  }

  async findActive(partitions: PartitionSet, limit: number, afterSagaId: string): Promise<SagaRecord[]> {
    const filter: Filter<SagaDocument> = { open: true, status: { $in: ACTIVE }, _id: { $gt: afterSagaId } };
    if (partitions !== null) filter.partition = partitionMatch(partitions);
    const docs = await this.bounded(
      this.sagas.find(filter, { projection: WITHOUT_HISTORY }).sort({ _id: 1 }).limit(limit).toArray(),
      "findActive",
    );
    return docs.map(fromDocument);
  }

  async countByStatus(status: SagaStatus): Promise<number> {
    return this.bounded(this.sagas.countDocuments({ status }), "countByStatus");
  }

  async claimPartitions(partitions: readonly number[], fence: number): Promise<void> {
    if (partitions.length === 0) return;
    // The fence records first: an insert by an ex-owner that lands after the
    // stamping below is then caught by the check in flush().
    await this.bounded(
      this.fences.bulkWrite(
        partitions.map((partition) => ({
          updateOne: { filter: { _id: partition }, update: { $max: { fence } }, upsert: true },
        })),
        { ordered: false },
      ),
      "claimPartitions",
    );
    await this.bounded(
      this.sagas.updateMany(
        { partition: partitionMatch(partitions), open: true, fence: { $lt: fence } },
        { $set: { fence }, $inc: { version: 1 } },
      ),
      "claimPartitions",
    );
  }

  async events(sagaId: string, afterSequence: number, limit: number): Promise<SagaEventRecord[]> {
    const doc = await this.bounded(
      this.sagas.findOne({ _id: sagaId }, { projection: { history: 1 } }),
      "events",
    );
    const history = doc?.history ?? [];
    // Sequences are 1, 2, 3, ... in array order.
    return history.slice(afterSequence, afterSequence + limit).filter((e) => e.sequence > afterSequence);
  }

  async ping(): Promise<void> {
    await this.bounded(this.db.command({ ping: 1 }), "ping");
  }

  async close(): Promise<void> {
    await this.onClose();
  }

  private bounded<T>(op: Promise<T>, what: string): Promise<T> {
    return withStoreTimeout(op, this.operationTimeoutMs, what);
  }

  private nextToken(): string {
    this.writeCount++;
    return `${this.writerId}.${this.writeCount.toString(36)}`;
  }

  /** One round trip for the batch, plus one read only when it is needed to tell outcomes apart. */
  private async flush(ops: WriteOp[]): Promise<BatchOutcome<WriteResult>[]> {
    const outcomes: (BatchOutcome<WriteResult> | undefined)[] = ops.map(() => undefined);
    let matched = 0;
    try {
      const result = await this.sagas.bulkWrite(
        ops.map((op) => (op.kind === "insert" ? { insertOne: { document: op.doc } } : op.op)),
        { ordered: false },
      );
      matched = result.matchedCount;
    } catch (err) {
      if (!(err instanceof MongoBulkWriteError)) throw err;
      matched = err.result.matchedCount;
      const writeErrors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
      for (const writeError of writeErrors) {
        const op = ops[writeError.index];
        outcomes[writeError.index] =
          op?.kind === "insert" && writeError.code === DUPLICATE_KEY
            ? { ok: true, value: { kind: "duplicate" } }
            : {
                ok: false,
                error: new Error(`saga write refused (code ${writeError.code}): ${writeError.errmsg}`),
              };
      }
    }
    const updates = ops.flatMap((op, i) => (op.kind === "update" && !outcomes[i] ? [i] : []));
    if (matched === updates.length) {
      for (const i of updates) outcomes[i] = { ok: true, value: true };
    } else {
      // Some conditions failed: the documents' write tags say which updates landed.
      const ids = updates.map((i) => (ops[i] as { sagaId: string }).sagaId);
      const docs = await this.sagas.find({ _id: { $in: ids } }, { projection: { lastWrite: 1 } }).toArray();
      const tags = new Map(docs.map((d) => [d._id, d.lastWrite]));
      for (const i of updates) {
        const op = ops[i] as { sagaId: string; token: string };
        outcomes[i] = { ok: true, value: tags.get(op.sagaId) === op.token };
      }
    }
    await this.checkInsertFences(ops, outcomes);
    return outcomes.map((o) => o ?? { ok: true, value: { kind: "inserted" } });
  }

  /**
   * Closes the ex-owner insert gap: a saga inserted by a node that has not yet
   * noticed it lost the partition carries the old fence. Reading the partition's
   * fence record after the insert tells the inserter to leave the saga alone
   * (it is stored due at once, so the new owner's timer starts it).
   */
  private async checkInsertFences(
    ops: WriteOp[],
    outcomes: (BatchOutcome<WriteResult> | undefined)[],
  ): Promise<void> {
    const inserted = ops.flatMap((op, i) =>
      op.kind === "insert" && !outcomes[i] && op.record.fence > 0 ? [i] : [],
    );
    if (inserted.length === 0) return;
    const partitions = [...new Set(inserted.map((i) => (ops[i] as { record: SagaRecord }).record.partition))];
    const records = await this.fences.find({ _id: { $in: partitions } }).toArray();
    const newest = new Map(records.map((r) => [r._id, r.fence]));
    for (const i of inserted) {
      const { record } = ops[i] as { record: SagaRecord };
      const fence = newest.get(record.partition) ?? 0;
      if (fence > record.fence) outcomes[i] = { ok: true, value: { kind: "newerFence", fence } };
    }
  }
}
