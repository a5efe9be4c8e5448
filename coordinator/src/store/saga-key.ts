export const DEFAULT_NAMESPACE = "default";
/** A namespace name: 1..63 characters of [a-z0-9-], starting with a letter or digit. */
export const NAMESPACE_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/**
 * The key a saga is stored, partitioned, locked and called by: its id in the
 * default namespace (so sagas from before namespaces keep their keys), else
 * "<namespace>/<id>". Saga ids cannot contain "/", so keys never collide, and
 * participants' idempotency keys differ between namespaces.
 */
export function sagaKey(namespace: string, sagaId: string): string {
  return namespace === DEFAULT_NAMESPACE ? sagaId : `${namespace}/${sagaId}`;
}

/** The namespace and id of a stored saga key. */
export function splitSagaKey(key: string): { namespace: string; sagaId: string } {
  const slash = key.indexOf("/");
  return slash < 0
    ? { namespace: DEFAULT_NAMESPACE, sagaId: key }
    : { namespace: key.slice(0, slash), sagaId: key.slice(slash + 1) };
}
