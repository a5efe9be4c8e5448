/**
 * The partition of a saga: FNV-1a (32-bit) of its id, mod the partition
 * count. Stable across processes, versions and languages, which is what
 * matters: every node must agree on it forever.
 */
export function partitionOf(sagaId: string, partitionCount: number): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(sagaId, "utf8")) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % partitionCount;
}
