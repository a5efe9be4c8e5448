import { status } from "@grpc/grpc-js";
import type { ClusterStatusSource } from "../api/admin-service.js";
import { StatusError } from "../api/grpc-errors.js";
import type { ClusterView } from "./cluster-view.js";

/** AdminService.GetClusterStatus from etcd: re-read on every call so it matches what etcd holds. */
export function etcdClusterStatus(
  nodeId: string,
  view: ClusterView,
  partitionCount: number,
): ClusterStatusSource {
  return {
    async status() {
      try {
        await view.reload();
      } catch (err) {
        // etcd is away (restarting, partitioned): a retryable condition, not an internal error.
        throw new StatusError(
          status.UNAVAILABLE,
          `cannot read the cluster state from etcd (${String(err)}); retry shortly`,
        );
      }
      const owned = new Map<string, number>();
      for (const owner of view.owners.values()) owned.set(owner.nodeId, (owned.get(owner.nodeId) ?? 0) + 1);
      return {
        nodeId,
        leaderNodeId: view.leader?.nodeId ?? "",
        members: [...view.members.values()]
          .sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1))
          .map((m) => ({ nodeId: m.nodeId, address: m.address, ownedPartitions: owned.get(m.nodeId) ?? 0 })),
        partitionCount,
        assignmentEpoch: view.assignment.epoch,
        partitions: Array.from({ length: partitionCount }, (_, partition) => ({
          partition,
          assignedNodeId: view.assignment.owners[partition] ?? "",
          ownerNodeId: view.owners.get(partition)?.nodeId ?? "",
          fence: view.owners.get(partition)?.fence ?? 0,
        })),
        mode: "cluster",
      };
    },
  };
}
