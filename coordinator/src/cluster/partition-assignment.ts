import { createHash } from "node:crypto";

/**
 * Maps partitions onto members by rendezvous (highest-random-weight) hashing:
 * each partition goes to the member with the highest hash(member, partition).
 * A member joining takes only the partitions it now wins (about 1/N); a member
 * leaving hands over only its own. No ring state to keep, and every node
 * computes the same answer from the same member list.
 */
export function assignPartitions(members: readonly string[], partitionCount: number): string[] {
  const owners: string[] = [];
  if (members.length === 0) return Array.from({ length: partitionCount }, () => "");
  const sorted = [...new Set(members)].sort();
  for (let p = 0; p < partitionCount; p++) {
    let best = "";
    let bestWeight = -1n;
    for (const member of sorted) {
      const weight = weightOf(member, p);
      if (weight > bestWeight) {
        best = member;
        bestWeight = weight;
      }
    }
    owners.push(best);
  }
  return owners;
}

function weightOf(member: string, partition: number): bigint {
  return createHash("sha256").update(`${member}\u0000${partition}`).digest().readBigUInt64BE(0);
}
