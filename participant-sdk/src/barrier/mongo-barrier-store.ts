import { Binary, type ClientSession, type Collection, type Db, MongoServerError } from "mongodb";
import type {
  BarrierContent,
  BarrierMatch,
  BarrierRecord,
  BarrierState,
  ExecuteOutcome,
} from "./barrier-record.js";
import type { BarrierStore, BarrierWriteOptions } from "./barrier-store.js";

/** A barrier record as stored: the key is `_id`, which MongoDB always indexes uniquely. */
interface BarrierDocument {
  _id: string;
  state: BarrierState;
  version: number;
  owner?: string;
  leaseUntil?: number;
  output?: Binary;
  failure?: string;
  executeOutcome?: ExecuteOutcome;
  updatedAt: Date;
}

export interface MongoBarrierStoreOptions {
  /** Collection name. Default "saga_barrier". */
  collection?: string;
  /**
   * Delete finished records this long after their last write (a TTL index on
   * `updatedAt`). Default: keep forever. Trade-off: once a record is gone the
   * barrier forgets the step, so a duplicate arriving later runs the handler
   * again and a late Execute after a tombstone is no longer refused. Keep it
   * well above the coordinator's longest retry horizon (days, not minutes).
   */
  retentionMs?: number;
}

const DUPLICATE_KEY = 11000;
const OPTIONAL_FIELDS = ["owner", "leaseUntil", "output", "failure", "executeOutcome"] as const;

/**
 * Barrier records in a MongoDB collection, one document per step. Every
 * decision is a single-document conditional write (insert on a unique `_id`,
 * or update/delete filtered on state + version/owner), which MongoDB applies
 * atomically; no multi-document transactions are used.
 */
export class MongoBarrierStore implements BarrierStore {
  private readonly collection: Collection<BarrierDocument>;
  private indexes: Promise<unknown> | undefined;

  constructor(
    db: Db,
    private readonly options: MongoBarrierStoreOptions = {},
  ) {
    this.collection = db.collection<BarrierDocument>(options.collection ?? "saga_barrier");
  }

  /** Creates the retention TTL index when `retentionMs` is set (idempotent; also done on first write). */
  ensureIndexes(): Promise<unknown> {
    this.indexes ??=
      this.options.retentionMs === undefined
        ? Promise.resolve()
        : this.collection.createIndex(
            { updatedAt: 1 },
            { expireAfterSeconds: Math.ceil(this.options.retentionMs / 1000), name: "barrier_retention" },
          );
    return this.indexes;
  }

  async insertIfAbsent(record: BarrierRecord): Promise<BarrierRecord | null> {
    await this.ensureIndexes();
    for (;;) {
      try {
        await this.collection.insertOne(toDocument(record));
        return null;
      } catch (err) {
        if (!(err instanceof MongoServerError) || err.code !== DUPLICATE_KEY) throw err;
      }
      const existing = await this.get(record.key);
      // Deleted between our insert and our read (a failed handler released it): try again.
      if (existing) return existing;
    }
  }

  async update(
    key: string,
    expected: BarrierMatch,
    content: BarrierContent,
    options: BarrierWriteOptions = {},
  ): Promise<boolean> {
    const { _id, version, ...fields } = toDocument({ ...content, key, version: 0 });
    const unset: Record<string, ""> = {};
    for (const field of OPTIONAL_FIELDS) if (fields[field] === undefined) unset[field] = "";
    const result = await this.collection.updateOne(
      filter(key, expected),
      { $set: fields, $inc: { version: 1 }, ...(Object.keys(unset).length > 0 ? { $unset: unset } : {}) },
      // The caller's session is the driver's ClientSession (DatabaseSession is its structural view).
      options.session ? { session: options.session as ClientSession } : {},
    );
    return result.matchedCount === 1;
  }

  async delete(key: string, expected: BarrierMatch): Promise<boolean> {
    const result = await this.collection.deleteOne(filter(key, expected));
    return result.deletedCount === 1;
  }

  async get(key: string): Promise<BarrierRecord | null> {
    const doc = await this.collection.findOne({ _id: key });
    return doc ? fromDocument(doc) : null;
  }
}

function filter(key: string, expected: BarrierMatch): Record<string, unknown> {
  return {
    _id: key,
    state: expected.state,
    ...(expected.version !== undefined ? { version: expected.version } : {}),
    ...(expected.owner !== undefined ? { owner: expected.owner } : {}),
  };
}

function toDocument(record: BarrierRecord): BarrierDocument {
  const doc: BarrierDocument = {
    _id: record.key,
    state: record.state,
    version: record.version,
    updatedAt: new Date(record.updatedAt),
  };
  if (record.owner !== undefined) doc.owner = record.owner;
  if (record.leaseUntil !== undefined) doc.leaseUntil = record.leaseUntil;
  if (record.output !== undefined) doc.output = new Binary(record.output);
  if (record.failure !== undefined) doc.failure = record.failure;
  if (record.executeOutcome !== undefined) doc.executeOutcome = record.executeOutcome;
  return doc;
}

function fromDocument(doc: BarrierDocument): BarrierRecord {
  const record: BarrierRecord = {
    key: doc._id,
    state: doc.state,
    version: doc.version,
    updatedAt: doc.updatedAt.getTime(),
  };
  if (doc.owner !== undefined) record.owner = doc.owner;
  if (doc.leaseUntil !== undefined) record.leaseUntil = doc.leaseUntil;
  if (doc.output !== undefined)
    record.output = new Uint8Array(doc.output.buffer.subarray(0, doc.output.position));
  if (doc.failure !== undefined) record.failure = doc.failure;
  if (doc.executeOutcome !== undefined) record.executeOutcome = doc.executeOutcome;
  return record;
}
