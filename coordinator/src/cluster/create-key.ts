import type { Etcd3 } from "etcd3";
import type { ClusterView } from "./cluster-view.js";

/**
 * Creates `key` = `value` bound to `leaseId` unless the key exists (a
 * compare-and-swap on its create revision), and notes the outcome in the
 * view either way, so the caller acts on it without waiting for the watch.
 * Returns the new key's create revision, or null when it existed already.
 */
export async function createKeyUnderLease(
  client: Etcd3,
  view: ClusterView,
  key: string,
  value: string,
  leaseId: string,
): Promise<number | null> {
  const result = await client
    .if(key, "Create", "==", 0)
    .then(client.put(key).value(value).lease(leaseId))
    .else(client.get(key))
    .commit();
  const revision = Number(result.header.revision);
  if (!result.succeeded) {
    view.noteRead(key, result.responses[0]?.response_range?.kvs[0], revision);
    return null;
  }
  view.notePut(key, value, revision, revision, leaseId);
  return revision;
}
