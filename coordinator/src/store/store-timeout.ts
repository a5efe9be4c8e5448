/**
 * A store operation that neither finished nor failed in time. Its outcome is
 * unknown, as after a network error: a write may still have landed.
 */
export class StoreTimeoutError extends Error {
  override name = "StoreTimeoutError";
}

/**
 * `op`, or a StoreTimeoutError after `ms`. The database driver bounds its own
 * operations (socketTimeoutMS), but a socket that closes at the wrong moment
 * can leave one pending for good (mongodb 7.9 waits for a 'drain' a destroyed
 * socket never emits); without this bound such an operation would hold a
 * group-commit slot or a poller forever. The stalled promise is abandoned.
 */
export function withStoreTimeout<T>(op: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new StoreTimeoutError(`${what}: no answer from the store within ${ms} ms`)),
      ms,
    );
  });
  return Promise.race([op, timeout]).finally(() => clearTimeout(timer));
}
