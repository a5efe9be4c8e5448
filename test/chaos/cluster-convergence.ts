import type { InvariantResult } from "./invariants.js";

// Does the cluster end converged? Every partition held by a live member,
// under that member's current lease, as the assignment says, and every node
// answering GetClusterStatus with the same picture. Pure.

export interface NodeStatusView {
  /** The node that answered. */
  via: string;
  members: string[];
  partitions: { partition: number; assignedNodeId: string; ownerNodeId: string }[];
}

/** What etcd itself holds under the cluster's prefix. */
export interface EtcdSnapshot {
  /** node id -> lease id of its member key. */
  members: Map<string, string>;
  /** partition -> holder and the lease its ownership key is bound to. */
  owners: Map<number, { nodeId: string; lease: string }>;
  /** node id per partition, from the published assignment. */
  assignment: string[];
}

export function clusterConverged(
  liveNodes: readonly string[],
  partitionCount: number,
  statuses: readonly NodeStatusView[],
  etcd: EtcdSnapshot,
): InvariantResult {
  const live = new Set(liveNodes);
  const violations: string[] = [];
  const memberIds = [...etcd.members.keys()].sort();
  if (memberIds.join(",") !== [...live].sort().join(",")) {
    violations.push(
      `etcd members are [${memberIds.join(", ")}], live nodes are [${[...live].sort().join(", ")}]`,
    );
  }
  const problems = new Map<string, number[]>();
  const note = (what: string, p: number) => problems.set(what, [...(problems.get(what) ?? []), p]);
  for (let p = 0; p < partitionCount; p++) {
    const assigned = etcd.assignment[p] ?? "";
    const owner = etcd.owners.get(p);
    if (!live.has(assigned)) note(`assigned to ${assigned || "nobody"} (not a live member)`, p);
    if (!owner) {
      note("no ownership key (orphaned)", p);
      continue;
    }
    if (owner.nodeId !== assigned) note(`held by ${owner.nodeId}, assigned to ${assigned}`, p);
    const memberLease = etcd.members.get(owner.nodeId);
    if (memberLease === undefined) note(`held by ${owner.nodeId}, which is not a member`, p);
    else if (memberLease !== owner.lease)
      note(`held by ${owner.nodeId} under lease ${owner.lease}, its member lease is ${memberLease}`, p);
  }
  for (const [what, partitions] of problems) {
    violations.push(`etcd: partitions ${compact(partitions)} ${what}`);
  }
  for (const s of statuses) {
    const members = [...s.members].sort().join(",");
    if (members !== [...live].sort().join(",")) violations.push(`${s.via} sees members [${members}]`);
    const disagree = s.partitions.filter(
      (p) => p.ownerNodeId !== etcd.owners.get(p.partition)?.nodeId || p.ownerNodeId !== p.assignedNodeId,
    );
    if (disagree.length) {
      violations.push(
        `${s.via} reports ${disagree.length} partitions whose owner differs from etcd or the assignment: ${compact(disagree.map((p) => p.partition))}`,
      );
    }
  }
  const perNode = [...live]
    .sort()
    .map((n) => `${n} ${[...etcd.owners.values()].filter((o) => o.nodeId === n).length}`)
    .join(", ");
  return {
    name: "cluster converged: every partition owned by a live member, matching the assignment",
    ok: violations.length === 0,
    detail: `${partitionCount} partitions (${perNode}); ${statuses.length} nodes agree`,
    violations: violations.slice(0, 8),
  };
}

/** "1-4, 9, 12-13" */
export function compact(numbers: readonly number[]): string {
  const sorted = [...numbers].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && (sorted[j + 1] as number) === (sorted[j] as number) + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(", ");
}
