import type { Etcd3, Lease } from "etcd3";
import type { Logger } from "pino";
import type { ClusterKeys, MemberInfo } from "./cluster-keys.js";

/**
 * This node's presence in etcd: a lease (kept alive by etcd3) and a member key
 * bound to it. The same lease carries the node's partition ownership keys, so
 * a node that dies or stalls past the TTL loses all of them at once.
 */
export class NodeMembership {
  private lease: Lease | null = null;
  private leaseId = "";
  private stopped = false;

  constructor(
    private readonly client: Etcd3,
    private readonly keys: ClusterKeys,
    private readonly self: MemberInfo,
    private readonly ttlSeconds: number,
    private readonly logger: Logger,
    /** Called when etcd says the lease is gone; the node must stop driving partitions. */
    private readonly onLost: () => void,
  ) {}

  get currentLeaseId(): string {
    return this.leaseId;
  }

  async join(): Promise<void> {
    const lease = this.client.lease(this.ttlSeconds, { autoKeepAlive: true });
    this.leaseId = await lease.grant();
    this.lease = lease;
    lease.on("lost", (err) => {
      if (this.stopped || this.lease !== lease) return;
      this.logger.error({ err }, "etcd lease lost: dropping every partition and rejoining");
      this.onLost();
      this.rejoin();
    });
    await lease.put(this.keys.member(this.self.nodeId)).value(JSON.stringify(this.self));
    this.logger.info({ leaseId: this.leaseId }, "joined the cluster");
  }

  /** Removes the member key only, so the leader reassigns this node's partitions; the lease stays. */
  async withdraw(): Promise<void> {
    await this.client.delete().key(this.keys.member(this.self.nodeId));
  }

  async leave(): Promise<void> {
    this.stopped = true;
    const lease = this.lease;
    this.lease = null;
    if (lease) await lease.revoke().catch(() => undefined);
  }

  private rejoin(): void {
    this.join().catch((err) => {
      this.logger.warn({ err }, "rejoining failed; trying again");
      if (!this.stopped) setTimeout(() => this.rejoin(), 1000).unref();
    });
  }
}
