import type { DrivenSaga } from "../driver/driven-sagas.js";
import type { SagaEventRecord, SagaRecord } from "../store/saga-record.js";
import type { SagaStore } from "../store/saga-store.js";

/**
 * The store as the API reads it: a saga this node drives (or just finished)
 * is answered from the driver's memory, which holds its last acknowledged
 * write, so GetSaga and WatchSaga of local sagas cost no round trip. Anything
 * else goes to the store.
 */
export function driverBackedReads(
  store: SagaStore,
  peek: (sagaId: string) => DrivenSaga | undefined,
): SagaStore {
  return {
    insert: (record, events) => store.insert(record, events),
    update: (next, version, events) => store.update(next, version, events),
    list: (query) => store.list(query),
    findDue: (now, partitions, limit) => store.findDue(now, partitions, limit),
    findActive: (partitions, limit, after) => store.findActive(partitions, limit, after),
    claimPartitions: (partitions, fence) => store.claimPartitions(partitions, fence),
    countByStatus: (status) => store.countByStatus(status),
    ping: () => store.ping(),
    close: () => store.close(),
    async get(sagaId: string): Promise<SagaRecord | null> {
      return peek(sagaId)?.record ?? store.get(sagaId);
    },
    async events(sagaId: string, afterSequence: number, limit: number): Promise<SagaEventRecord[]> {
      const history = peek(sagaId)?.history;
      if (!history) return store.events(sagaId, afterSequence, limit);
      return history.filter((e) => e.sequence > afterSequence).slice(0, limit);
    },
  };
}
