import type { BarrierContent, BarrierMatch, BarrierRecord } from "./barrier-record.js";

/**
 * A database session a store can write in: for MongoBarrierStore the driver's
 * ClientSession. Structural, so this package needs no database driver to type-check.
 */
export interface DatabaseSession {
  inTransaction(): boolean;
}

/** Options of a store write made from inside a handler (see ExecuteContext.commit). */
export interface BarrierWriteOptions {
  /**
   * A MongoDB session (possibly inside a transaction) to write the record in,
   * so it commits or rolls back with the handler's own business writes.
   * Stores that are not MongoDB ignore it.
   */
  session?: DatabaseSession;
}

/**
 * Where barrier records live. Every method is one atomic operation on one
 * record; the barrier's correctness rests on exactly that (no transactions).
 */
export interface BarrierStore {
  /** Inserts `record` unless its key already has one. Returns the existing record, or null when inserted. */
  insertIfAbsent(record: BarrierRecord): Promise<BarrierRecord | null>;
  /**
   * If the key's record matches `expected`, replaces its content with `content`
   * and increments its version. Returns whether it matched.
   */
  update(
    key: string,
    expected: BarrierMatch,
    content: BarrierContent,
    options?: BarrierWriteOptions,
  ): Promise<boolean>;
  /** Deletes the key's record if it matches `expected`. Returns whether it matched. */
  delete(key: string, expected: BarrierMatch): Promise<boolean>;
  /** The key's record, or null. */
  get(key: string): Promise<BarrierRecord | null>;
}
