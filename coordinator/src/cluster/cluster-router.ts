import { type CallOptions, type ChannelCredentials, credentials, Metadata } from "@grpc/grpc-js";
import { AdminServiceClient, CoordinatorServiceClient } from "@saga-coordinator/proto";
import {
  FORWARDED_HEADER,
  type RemoteCall,
  type RemoteNode,
  type RequestRouter,
  type WriteOptions,
} from "../api/request-router.js";
import { NotOwnerError } from "../driver/driver-errors.js";
import type { PartitionOwnership } from "../driver/partition-ownership.js";
import type { ClusterView } from "./cluster-view.js";

/**
 * Runs a write here when this node owns the saga's partition and forwards it
 * to the owner otherwise: one hop at most (a forwarded request is never
 * forwarded again), with the caller's deadline. During a hand-over it waits
 * briefly for a new owner, then answers UNAVAILABLE so the client retries.
 */
export class ClusterRouter implements RequestRouter {
  private readonly nodes = new Map<string, RemoteNode>();

  constructor(
    private readonly ownership: PartitionOwnership,
    private readonly view: ClusterView,
    private readonly selfAddress: string,
    private readonly partitionOf: (sagaId: string) => number,
    private readonly handoverWaitMs: number,
    private readonly peerCredentials: ChannelCredentials = credentials.createInsecure(),
  ) {}

  async route<T>(
    sagaId: string,
    opts: WriteOptions,
    local: () => Promise<T>,
    remote: RemoteCall<T>,
  ): Promise<T> {
    const partition = this.partitionOf(sagaId);
    const until = Math.min(Date.now() + this.handoverWaitMs, opts.deadline ?? Number.POSITIVE_INFINITY);
    for (;;) {
      if (this.ownership.fenceFor(partition) !== null && !this.ownership.isDraining(partition))
        return local();
      const address = this.view.ownerAddress(partition);
      if (!opts.forwarded && address && address !== this.selfAddress) {
        const metadata = new Metadata();
        metadata.set(FORWARDED_HEADER, "1");
        if (opts.authorization) metadata.set("authorization", opts.authorization);
        const options: CallOptions = { deadline: opts.deadline ?? Date.now() + 30_000 };
        return remote(this.node(address), metadata, options);
      }
      // Forwarded here, but another node holds the key (we are draining it, or the
      // sender's view was stale): we will not become its owner, so say so at once.
      const holder = this.view.owners.get(partition)?.nodeId;
      if (opts.forwarded && holder !== undefined && address !== this.selfAddress) {
        throw new NotOwnerError(`partition ${partition} of saga ${sagaId} is owned by node ${holder}`);
      }
      if (Date.now() >= until) {
        throw new NotOwnerError(
          `partition ${partition} of saga ${sagaId} is being handed over between nodes`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  close(): void {
    for (const node of this.nodes.values()) {
      node.coordinator.close();
      node.admin.close();
    }
    this.nodes.clear();
  }

  private node(address: string): RemoteNode {
    let node = this.nodes.get(address);
    if (!node) {
      node = {
        coordinator: new CoordinatorServiceClient(address, this.peerCredentials),
        admin: new AdminServiceClient(address, this.peerCredentials),
      };
      this.nodes.set(address, node);
    }
    return node;
  }
}
