import type { SagaStatus } from "../engine/saga-state.js";
import type { SagaEventRecord, SagaRecord } from "./saga-record.js";

/** Filters and keyset cursor of ListSagas; results are newest first (createdAt, then sagaId, descending). */
export interface ListQuery {
  status?: SagaStatus;
  sagaType?: string;
  labels?: Record<string, string>;
  /** Only sagas whose key is in this namespace (see saga-key.ts). */
  namespace?: string;
  limit: number;
  /** Return only sagas strictly after this position in the order above. */
  after?: { createdAt: number; sagaId: string };
}

/** Which partitions a node drives; null means all of them (dev mode). */
export type PartitionSet = ReadonlySet<number> | null;

export type InsertResult =
  /**
   * `newerFence`: the saga was stored, but a newer owner has claimed its
   * partition meanwhile; the inserter must not drive it (the owner's timer will).
   */
  { inserted: true; newerFence?: number } | { inserted: false; existing: SagaRecord };

/**
 * Persistence of sagas. Every state change is one conditional write on one
 * record; no implementation may need multi-record transactions.
 */
export interface SagaStore {
  /**
   * Creates the saga with its first events, unless the id exists (then returns
   * the existing record). Records passed in and returned are immutable values:
   * nobody may change them in place.
   */
  insert(record: SagaRecord, events: SagaEventRecord[]): Promise<InsertResult>;
  get(sagaId: string): Promise<SagaRecord | null>;
  /**
   * Replaces the saga with `next` if its stored version is still
   * `expectedVersion` and its stored fence is <= next.fence. Appends `events`
   * atomically with the change. False when the condition failed.
   */
  update(next: SagaRecord, expectedVersion: number, events: SagaEventRecord[]): Promise<boolean>;
  list(query: ListQuery): Promise<SagaRecord[]>;
  /** Sagas whose nextWakeAt <= now (terminal sagas have none), earliest first. */
  findDue(now: number, partitions: PartitionSet, limit: number): Promise<SagaRecord[]>;
  /** Unfinished sagas (RUNNING or COMPENSATING) with sagaId > afterSagaId, by sagaId, for recovery. */
  findActive(partitions: PartitionSet, limit: number, afterSagaId: string): Promise<SagaRecord[]>;
  /**
   * Records the partitions' new fence, then stamps every unfinished saga of
   * those partitions with it (and bumps its version), so that no write of a
   * previous owner can land after this, and no insert of one goes unnoticed.
   * One fence for many partitions: a node taking several at once stamps them
   * together (see PartitionOwner for why one fence is safe for all of them).
   */
  claimPartitions(partitions: readonly number[], fence: number): Promise<void>;
  /** How many sagas have this status (for the FAILED gauge operators alert on). */
  countByStatus(status: SagaStatus): Promise<number>;
  /** One cheap round trip that fails when the store cannot be reached (the node's store watchdog uses it). */
  ping(): Promise<void>;
  /** History events with sequence > afterSequence, oldest first. */
  events(sagaId: string, afterSequence: number, limit: number): Promise<SagaEventRecord[]>;
  close(): Promise<void>;
}
