import type { Etcd3 } from "etcd3";
import type { Logger } from "pino";
import type { PartitionOwnership } from "../driver/partition-ownership.js";
import type { ClusterKeys } from "./cluster-keys.js";
import type { ClusterView } from "./cluster-view.js";

/** What taking and giving up a partition means to the rest of the node. */
export interface PartitionHooks {
  /** Stamp the partition's sagas with the new fence in the store. */
  claim(partition: number, fence: number): Promise<void>;
  /** Re-drive the partition's unfinished sagas. */
  recover(partition: number): Promise<void>;
  /** Wait for the partition's in-flight participant calls. */
  drain(partition: number): Promise<void>;
  /** Drop cached state of the partition. */
  forget(partition: number): void;
}

/**
 * Holds the partitions the leader assigned to this node, each through a
 * lease-bound ownership key created with a compare-and-swap. The key's
 * create revision is the fencing token. Reconciles whenever the view changes.
 */
export class PartitionOwner implements PartitionOwnership {
  private readonly fences = new Map<number, number>();
  private readonly draining = new Set<number>();
  private accepting = true;
  private running = false;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly client: Etcd3,
    private readonly keys: ClusterKeys,
    private readonly view: ClusterView,
    private readonly nodeId: string,
    private readonly leaseId: () => string,
    private readonly hooks: PartitionHooks,
    private readonly logger: Logger,
  ) {}

  fenceFor(partition: number): number | null {
    return this.fences.get(partition) ?? null;
  }

  owned(): ReadonlySet<number> {
    return new Set(this.fences.keys());
  }

  isDraining(partition: number): boolean {
    return this.draining.has(partition);
  }

  lost(partition: number): void {
    if (!this.fences.delete(partition)) return;
    this.hooks.forget(partition);
    this.logger.warn({ partition }, "a newer owner wrote to the partition: stepped down from it");
    this.reconcile();
  }

  /** The lease is gone: every ownership key with it. */
  dropAll(): void {
    for (const partition of this.fences.keys()) this.hooks.forget(partition);
    this.fences.clear();
    this.draining.clear();
  }

  start(): void {
    this.unsubscribe = this.view.onChange(() => this.reconcile());
    // A safety net for missed events (e.g. a key held by another node that expired).
    this.timer = setInterval(() => this.reconcile(), 1000);
    this.timer.unref();
    this.reconcile();
  }

  /** Gives every partition up (drained, keys deleted) and takes no new ones. */
  async releaseAll(timeoutMs: number): Promise<void> {
    this.accepting = false;
    this.reconcile();
    const until = Date.now() + timeoutMs;
    while ((this.fences.size > 0 || this.running) && Date.now() < until)
      await new Promise((r) => setTimeout(r, 20));
    this.unsubscribe?.();
    if (this.timer) clearInterval(this.timer);
  }

  private desired(): Set<number> {
    const wanted = new Set<number>();
    if (!this.accepting || this.leaseId() === "") return wanted;
    this.view.assignment.owners.forEach((owner, partition) => {
      if (owner === this.nodeId) wanted.add(partition);
    });
    return wanted;
  }

  reconcile(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void (async () => {
      do {
        this.again = false;
        const wanted = this.desired();
        const releases = [...this.fences.keys()].filter((p) => !wanted.has(p) && !this.draining.has(p));
        const acquires = [...wanted].filter((p) => !this.fences.has(p) && !this.view.owners.has(p));
        await Promise.all([...releases.map((p) => this.release(p)), ...acquires.map((p) => this.acquire(p))]);
      } while (this.again);
    })()
      .catch((err) => this.logger.warn({ err }, "partition reconcile failed; will retry"))
      .finally(() => {
        this.running = false;
      });
  }

  private async acquire(partition: number): Promise<void> {
    const key = this.keys.owner(partition);
    const leaseId = this.leaseId();
    const result = await this.client
      .if(key, "Create", "==", 0)
      .then(this.client.put(key).value(this.nodeId).lease(leaseId))
      .commit();
    if (!result.succeeded) return;
    const fence = Number(result.header.revision);
    try {
      await this.hooks.claim(partition, fence);
    } catch (err) {
      this.logger.warn(
        { err, partition },
        "could not stamp the partition's fence in the store; giving it back",
      );
      await this.deleteKey(partition);
      return;
    }
    this.fences.set(partition, fence);
    this.logger.info({ partition, fence }, "took partition");
    await this.hooks.recover(partition);
  }

  private async release(partition: number): Promise<void> {
    this.draining.add(partition);
    try {
      await this.hooks.drain(partition);
    } finally {
      this.fences.delete(partition);
      this.draining.delete(partition);
      this.hooks.forget(partition);
    }
    await this.deleteKey(partition);
    this.logger.info({ partition }, "handed partition over");
  }

  private async deleteKey(partition: number): Promise<void> {
    const key = this.keys.owner(partition);
    await this.client.if(key, "Value", "==", this.nodeId).then(this.client.delete().key(key)).commit();
  }
}
