import type { SagaEventRecord, SagaRecord } from "../store/saga-record.js";

/** What the driver knows of a saga without asking the store. */
export interface DrivenSaga {
  record: SagaRecord;
  /** The whole history, when this node has seen all of it (it created the saga); else null. */
  history: SagaEventRecord[] | null;
}

/** Finished sagas kept for reads right after they end (a client's last GetSaga, a late watcher). */
const RECENTLY_FINISHED = 2_000;
export const DEFAULT_MAX_CACHED_SAGAS = 10_000;

/**
 * The latest written state of the sagas this node drives, so that a
 * transition needs no read before its write, and reads of those sagas
 * (GetSaga, WatchSaga) need no round trip. A stale entry costs only a failed
 * conditional write: the store stays the authority.
 *
 * At most `maxLive` running sagas are held, least recently written first out:
 * sagas parked on a slow participant must not grow the node without bound. An
 * evicted saga costs one store read at its next transition.
 */
export class DrivenSagas {
  /** Least recently written first (a write moves a saga to the end). */
  private readonly live = new Map<string, DrivenSaga>();
  /** Insertion-ordered, oldest first, so the oldest is evicted first. */
  private readonly finished = new Map<string, DrivenSaga>();

  constructor(private readonly maxLive = DEFAULT_MAX_CACHED_SAGAS) {}

  /** Running sagas held in memory (for tests and metrics). */
  get liveCount(): number {
    return this.live.size;
  }

  /** The record to transition from, if this node drives the saga. */
  record(sagaId: string): SagaRecord | undefined {
    return this.live.get(sagaId)?.record;
  }

  /** For reads: a live or recently finished saga. */
  peek(sagaId: string): DrivenSaga | undefined {
    return this.live.get(sagaId) ?? this.finished.get(sagaId);
  }

  /** A saga created here: its history so far is `history`. */
  created(record: SagaRecord, history: SagaEventRecord[]): void {
    this.hold(record.sagaId, { record, history: [...history] });
  }

  /** A saga loaded from the store (history not known here). */
  loaded(record: SagaRecord): void {
    // Only called when nothing is remembered of the saga, so its history is unknown here.
    this.hold(record.sagaId, { record, history: null });
  }

  /** A transition of the saga was written: `next` with `events` appended. */
  written(next: SagaRecord, events: SagaEventRecord[], finished: boolean): void {
    const known = this.live.get(next.sagaId);
    const history =
      known?.history && known.record.eventSeq + events.length === next.eventSeq ? known.history : null;
    history?.push(...events);
    const entry = { record: next, history };
    if (!finished) {
      this.hold(next.sagaId, entry);
      return;
    }
    this.live.delete(next.sagaId);
    this.finished.set(next.sagaId, entry);
    if (this.finished.size > RECENTLY_FINISHED)
      this.finished.delete(this.finished.keys().next().value as string);
  }

  private hold(sagaId: string, entry: DrivenSaga): void {
    this.live.delete(sagaId);
    this.live.set(sagaId, entry);
    if (this.live.size > this.maxLive) this.live.delete(this.live.keys().next().value as string);
  }

  /** Not known any more (a failed or refused write): the next transition reads the store. */
  drop(sagaId: string): void {
    this.live.delete(sagaId);
    this.finished.delete(sagaId);
  }

  forgetPartition(partition: number): void {
    for (const map of [this.live, this.finished]) {
      for (const [id, saga] of map) if (saga.record.partition === partition) map.delete(id);
    }
  }
}
