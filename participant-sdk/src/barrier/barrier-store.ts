import type { BarrierContent, BarrierMatch, BarrierRecord } from "./barrier-record.js";

/**
 * A database session a store can write in: the MongoDB driver's ClientSession
 * for MongoBarrierStore, a `pg` PoolClient inside BEGIN for PostgresBarrierStore.
 * Opaque here, so this package needs no database driver to type-check.
 */
export type DatabaseSession = object;

/** Options of a store write made from inside a handler (see ExecuteContext.commit). */
export interface BarrierWriteOptions {
  /**
   * The handler's own session or connection (inside its transaction) to
   * write the record in, so it commits or rolls back with the handler's
   * business writes. The memory store ignores it.
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
