import type { Etcd3 } from "etcd3";

/** What etcd holds about one cluster's partitions, read in one go. */
export interface PartitionTable {
  revision: number;
  /** node id -> lease of its member key */
  members: Map<string, string>;
  /** partition -> holder of its ownership key */
  owners: Map<number, { nodeId: string; fence: number; lease: string }>;
  assignment: { epoch: number; owners: string[]; leader: { key: string; revision: number } | null } | null;
  /** The candidate key with the lowest create revision. */
  leader: { key: string; nodeId: string; revision: number } | null;
}

export async function readPartitionTable(etcd: Etcd3, prefix: string): Promise<PartitionTable> {
  const [cluster, candidates] = await Promise.all([
    etcd.getAll().prefix(`${prefix}/`).exec(),
    etcd.getAll().prefix(`election/${prefix}/election/`).exec(),
  ]);
  const table: PartitionTable = {
    revision: Number(cluster.header.revision),
    members: new Map(),
    owners: new Map(),
    assignment: null,
    leader: null,
  };
  for (const kv of cluster.kvs) {
    const key = kv.key.toString();
    if (key.startsWith(`${prefix}/members/`))
      table.members.set(key.slice(`${prefix}/members/`.length), String(kv.lease));
    else if (key.startsWith(`${prefix}/owners/`))
      table.owners.set(Number(key.slice(`${prefix}/owners/`.length)), {
        nodeId: kv.value.toString(),
        fence: Number(kv.create_revision),
        lease: String(kv.lease),
      });
    else if (key === `${prefix}/assignment`) table.assignment = JSON.parse(kv.value.toString());
  }
  for (const kv of candidates.kvs) {
    const revision = Number(kv.create_revision);
    if (!table.leader || revision < table.leader.revision)
      table.leader = { key: kv.key.toString(), nodeId: kv.value.toString(), revision };
  }
  return table;
}

/**
 * Everything that keeps the table from being converged on exactly `live`:
 * the member list is `live`, the assignment was written by the current leader
 * and names only live members, and every partition's key is held by its
 * assigned node under that node's current lease (the lease of its member key).
 */
export function tableProblems(table: PartitionTable, live: readonly string[], partitions: number): string[] {
  const problems: string[] = [];
  const members = [...table.members.keys()].sort();
  if (JSON.stringify(members) !== JSON.stringify([...live].sort()))
    problems.push(`members are ${members.join(",")}, expected ${[...live].sort().join(",")}`);
  const a = table.assignment;
  if (!a) return [...problems, "no assignment"];
  if (!table.leader || a.leader?.key !== table.leader.key || a.leader.revision !== table.leader.revision)
    problems.push("the assignment was not written by the current leader");
  for (let p = 0; p < partitions; p++) {
    const assigned = a.owners[p] ?? "";
    const owner = table.owners.get(p);
    if (!live.includes(assigned)) problems.push(`partition ${p} is assigned to ${assigned || "nobody"}`);
    else if (!owner) problems.push(`partition ${p} has no owner`);
    else if (owner.nodeId !== assigned)
      problems.push(`partition ${p} is held by ${owner.nodeId}, assigned ${assigned}`);
    else if (owner.lease !== table.members.get(assigned))
      problems.push(`partition ${p} is held under an old lease of ${assigned}`);
  }
  return problems;
}

/** Polls etcd until the table has converged on `live`; fails with what was still wrong at the deadline. */
export async function waitConverged(
  etcd: Etcd3,
  prefix: string,
  live: readonly string[],
  partitions: number,
  timeoutMs: number,
): Promise<PartitionTable> {
  const until = Date.now() + timeoutMs;
  let last: string[] = ["etcd did not answer"];
  for (;;) {
    const table = await readPartitionTable(etcd, prefix).catch(() => null);
    if (table) {
      last = tableProblems(table, live, partitions);
      if (last.length === 0) return table;
    }
    if (Date.now() > until)
      throw new Error(
        `partition table did not converge on ${live.join(",")}:\n${last.slice(0, 10).join("\n")}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}
