import { splitSagaKey } from "./saga-key.js";
import type { SagaRecord } from "./saga-record.js";
import type { ListQuery } from "./saga-store.js";

/** ListSagas order: newest first, ties broken by sagaId descending, so page cursors are stable. */
export function compareNewestFirst(a: SagaRecord, b: SagaRecord): number {
  if (a.createdAt !== b.createdAt) return b.createdAt - a.createdAt;
  return a.sagaId < b.sagaId ? 1 : a.sagaId > b.sagaId ? -1 : 0;
}

/** The filter half of a ListQuery, for stores that filter in memory. */
export function matchesListQuery(r: SagaRecord, q: ListQuery): boolean {
  if (q.status && r.state.status !== q.status) return false;
  if (q.namespace && splitSagaKey(r.sagaId).namespace !== q.namespace) return false;
  if (q.sagaType && r.definition.sagaType !== q.sagaType) return false;
  for (const [k, v] of Object.entries(q.labels ?? {})) {
    if (r.definition.labels[k] !== v) return false;
  }
  if (q.after) {
    const { createdAt, sagaId } = q.after;
    if (r.createdAt > createdAt || (r.createdAt === createdAt && r.sagaId >= sagaId)) return false;
  }
  return true;
}
