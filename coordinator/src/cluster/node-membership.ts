import type { Etcd3, Lease } from "etcd3";
import type { Logger } from "pino";
import type { ClusterKeys, MemberInfo } from "./cluster-keys.js";
import { LeaseClock } from "./lease-clock.js";
import { clusterRetryDelayMs } from "./retry-delay.js";
import { SerialTask } from "./serial-task.js";

/** This node's lease as the partition owner and the leader see it. */
export interface LeaseState {
  /** "" while the node has no lease. */
  id: string;
  /** A keepalive was answered within the TTL (see LeaseClock). */
  alive: boolean;
}

/**
 * This node's presence in etcd: a lease (kept alive by etcd3) and a member key
 * bound to it. The same lease carries the node's partition ownership keys and
 * its leader candidacy, so a node that dies or stalls past the TTL loses all
 * of them at once. A lost lease is replaced (with backoff) and the old one is
 * revoked, so that keys it may still carry after an etcd restart go at once.
 */
export class NodeMembership {
  private lease: Lease | null = null;
  private clock: LeaseClock | null = null;
  private leaseId = "";
  private stopped = false;
  /** Whether the member key should exist (false while the store cannot be reached, and when leaving). */
  private present = true;
  private resolveJoined: () => void = () => {};
  private readonly joined = new Promise<void>((resolve) => {
    this.resolveJoined = resolve;
  });
  private readonly task = new SerialTask(
    () => this.sync(),
    (err, retryInMs) =>
      this.logger.warn({ err, retryInMs }, "updating this node's membership failed; retrying"),
  );
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly client: Etcd3,
    private readonly keys: ClusterKeys,
    private readonly self: MemberInfo,
    private readonly ttlSeconds: number,
    private readonly logger: Logger,
  ) {}

  state(): LeaseState {
    return { id: this.leaseId, alive: this.leaseId !== "" && !!this.clock?.alive() };
  }

  /** Hears about a new lease, a lost one, and a keepalive after a silence. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Gets a lease and puts the member key; retries with backoff until etcd answers (or leave()). */
  join(): Promise<void> {
    this.task.request();
    return this.joined;
  }

  /** Puts (true) or removes (false) the member key, so that the leader assigns this node partitions or not. */
  setPresent(present: boolean): void {
    if (this.present === present) return;
    this.present = present;
    this.task.request();
  }

  /** Removes the member key now (drain): the leader reassigns this node's partitions; the lease stays. */
  async withdraw(): Promise<void> {
    this.present = false;
    await this.client.delete().key(this.keys.member(this.self.nodeId));
  }

  /** Stops keeping anything in etcd and revokes the lease (its keys go with it). */
  async leave(): Promise<void> {
    this.stopped = true;
    this.resolveJoined();
    void this.task.stop();
    this.listeners.clear();
    const lease = this.lease;
    this.lease = null;
    this.leaseId = "";
    if (lease) await lease.revoke();
  }

  /** Brings etcd in line with what this node wants: a live lease, and the member key iff present. */
  private async sync(): Promise<void> {
    if (this.stopped) return;
    if (!this.lease) await this.grant();
    if (this.stopped) return;
    const memberKey = this.keys.member(this.self.nodeId);
    if (this.present) {
      await this.client.put(memberKey).value(JSON.stringify(this.self)).lease(this.leaseId);
      this.logger.info({ leaseId: this.leaseId }, "joined the cluster");
    } else {
      await this.client.delete().key(memberKey);
      this.logger.warn("left the member list (partitions go to other nodes)");
    }
    this.resolveJoined();
  }

  private async grant(): Promise<void> {
    const requestedAt = Date.now();
    const lease = this.client.lease(this.ttlSeconds, { autoKeepAlive: true });
    const clock = new LeaseClock(this.ttlSeconds * 1000, requestedAt);
    let granted = false;
    // Before the grant answers, a failure is the caller's to handle (it retries).
    const current = () => granted && this.lease === lease && !this.stopped;
    this.lease = lease;
    this.clock = clock;
    lease.on("keepaliveEstablished", () => clock.streamOpened());
    lease.on("keepaliveFired", () => clock.fired());
    lease.on("keepaliveSucceeded", () => {
      const wasAlive = clock.alive();
      clock.answered();
      if (!wasAlive && current()) this.notify();
    });
    lease.on("lost", (err) => {
      clock.expire();
      if (!current()) return;
      this.logger.error({ err }, "etcd lease lost: dropping every partition and rejoining");
      this.replaceLease(lease);
    });
    try {
      this.leaseId = await lease.grant();
      granted = true;
    } catch (err) {
      if (this.lease === lease) {
        this.lease = null;
        this.clock = null;
      }
      throw err;
    }
    this.notify();
  }

  private replaceLease(old: Lease): void {
    this.lease = null;
    this.clock = null;
    this.leaseId = "";
    this.notify();
    // After an etcd restart the old lease may live on for a TTL, holding partitions: end it now.
    void (async () => {
      for (let attempt = 1; attempt <= 5 && !this.stopped; attempt++) {
        try {
          await old.revoke();
          return;
        } catch {
          await new Promise((r) => setTimeout(r, clusterRetryDelayMs(attempt)));
        }
      }
    })();
    this.task.request();
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}
