/** An ownership key as this node last saw it in etcd. */
export interface HeldKey {
  nodeId: string;
  /** The key's create revision: the partition's fencing token. */
  fence: number;
  lease: string;
}

/** Everything the partition decisions depend on, captured at one instant. */
export interface ReconcileInput {
  nodeId: string;
  partitionCount: number;
  /** This node's lease: "" while it has none; alive = a keepalive was answered within the TTL. */
  lease: { id: string; alive: boolean };
  /** False once the node is draining (SIGTERM): it gives every partition back. */
  accepting: boolean;
  /** False while the store watchdog says the store cannot be reached: partitions go back without a drain. */
  storeHealthy: boolean;
  /** Live member ids. */
  members: ReadonlySet<string>;
  /** The published assignment; trusted = written by the leader that leads now. */
  assignment: { owners: readonly string[]; trusted: boolean };
  /** Ownership keys in etcd, by partition. */
  keys: ReadonlyMap<number, HeldKey>;
  /** Partitions this node drives, with the fence it writes with. */
  fences: ReadonlyMap<number, number>;
  /** Partitions with an operation under way (taking, recovering, releasing, deleting). */
  busy: ReadonlySet<number>;
  /** Partitions whose last operation failed recently: no new etcd or store work on them yet. */
  coolingDown: ReadonlySet<number>;
}

export type PartitionAction =
  /** Stop driving at once: the key is gone, or no longer ours under a live lease. */
  | { type: "drop"; partition: number; reason: string }
  /** Stop driving (after draining in-flight calls when `drain`), then delete the key. */
  | { type: "release"; partition: number; fence: number; drain: boolean }
  /** Create the key under our lease, stamp the fence in the store, check the key, then drive. */
  | { type: "acquire"; partition: number }
  /** The key is ours already but not driven (a failed stamp, a restart): stamp, check, then drive. */
  | { type: "adopt"; partition: number; fence: number }
  /** The key is ours but must go (not ours to drive, or from an older lease): delete it. */
  | { type: "delete"; partition: number; fence: number };

/**
 * Decides, for every partition, what this node must do so that each
 * partition ends up with exactly one live owner matching the assignment, and
 * so that this node never drives a partition whose key it does not hold
 * under its current, live lease. Pure: the caller executes the actions, and
 * calls this again whenever anything in the input changes.
 *
 * The rules:
 * - driving needs the key, under the current lease, with the same fence;
 *   otherwise drop at once (no etcd call, no drain). A lease in doubt (alive =
 *   false: no keepalive answered within the TTL) changes nothing: the caller
 *   writes nothing meanwhile, and the lease either answers again or is
 *   declared lost (id ""). Dropping everything on every late keepalive would
 *   make a loaded node hand its partitions back and forth;
 * - a key of ours that is not driven and has no operation under way is
 *   either adopted (wanted) or deleted (not wanted), so a failed delete or a
 *   failed stamp is simply retried, never forgotten;
 * - an untrusted assignment (the leader changed and has not re-published)
 *   moves nothing: no acquire and no release until the new leader speaks;
 * - a draining node, or one that cannot reach its store, wants nothing.
 */
export function reconcilePartitions(input: ReconcileInput): PartitionAction[] {
  const actions: PartitionAction[] = [];
  const leaseUp = input.lease.id !== "" && input.lease.alive;
  const mayHold = leaseUp && input.accepting && input.storeHealthy;
  // true = take it, false = give it back, null = keep things as they are.
  const want = (partition: number): boolean | null => {
    if (!mayHold) return false;
    if (!input.assignment.trusted) return null;
    if (input.assignment.owners[partition] !== input.nodeId) return false;
    return input.members.has(input.nodeId) ? true : null;
  };

  for (let partition = 0; partition < input.partitionCount; partition++) {
    const key = input.keys.get(partition);
    const fence = input.fences.get(partition);
    const ours = !!key && key.nodeId === input.nodeId && key.lease === input.lease.id;

    if (fence !== undefined) {
      if (!ours || key.fence !== fence) {
        const reason = "the ownership key is gone, or not under this node's lease";
        actions.push({ type: "drop", partition, reason });
      } else if (input.lease.alive && !input.busy.has(partition) && want(partition) === false) {
        actions.push({ type: "release", partition, fence, drain: input.storeHealthy });
      }
      // A lease in doubt (no keepalive answered within the TTL) holds: the caller writes
      // nothing meanwhile, and either a keepalive answers or the lease is declared lost.
      continue;
    }

    if (input.busy.has(partition) || input.coolingDown.has(partition) || !leaseUp) continue;
    if (key && key.nodeId === input.nodeId) {
      const wanted = want(partition);
      if (!ours || wanted === false) actions.push({ type: "delete", partition, fence: key.fence });
      else if (wanted === true) actions.push({ type: "adopt", partition, fence: key.fence });
    } else if (!key && want(partition) === true) {
      actions.push({ type: "acquire", partition });
    }
  }
  return actions;
}
