import type { Etcd3 } from "etcd3";
import type { Logger } from "pino";
import type { PartitionOwnership } from "../driver/partition-ownership.js";
import { type BatchOutcome, GroupCommit } from "../store/group-commit.js";
import type { ClusterKeys } from "./cluster-keys.js";
import type { ClusterView } from "./cluster-view.js";
import { createKeyUnderLease } from "./create-key.js";
import type { LeaseState } from "./node-membership.js";
import { type PartitionAction, reconcilePartitions } from "./reconcile-partitions.js";
import { clusterRetryDelayMs } from "./retry-delay.js";

/** What taking and giving up a partition means to the rest of the node. */
export interface PartitionHooks {
  /** Stamp the partitions' sagas with the new fence in the store. */
  claim(partitions: readonly number[], fence: number): Promise<void>;
  /** Re-drive the partition's unfinished sagas. */
  recover(partition: number): Promise<void>;
  /** Wait for the partition's in-flight participant calls. */
  drain(partition: number): Promise<void>;
  /** Drop cached state of the partition. */
  forget(partition: number): void;
}

/** How long a take waits for a late keepalive answer before giving up (etcd3 declares a lease lost after 2 TTLs). */
const LEASE_CONFIRM_WAIT_MS = 5000;

/** How often decisions are re-made without an event (cool-downs ending, a lease clock running out). */
const TICK_MS = 250;

/** A partition whose key is ours (created at `revision` under `leaseId`), to be stamped in the store. */
interface ClaimRequest {
  partition: number;
  revision: number;
  leaseId: string;
}

/**
 * Holds the partitions the leader assigned to this node, each through a
 * lease-bound ownership key created with a compare-and-swap; the key's create
 * revision is the fencing token. The decisions are reconcilePartitions' (a
 * pure function); this class only gathers its input and carries out its
 * actions, one operation per partition at a time, retrying failed ones with
 * backoff. Nothing is recorded as owned until the store carries the fence AND
 * etcd confirms, after that write, that the key is still ours under a live lease.
 *
 * Partitions taken together (a member left: dozens at once) are stamped in the
 * store together, with one fence: the highest create revision among their
 * keys. That is safe for every one of them. Each key's revision is higher than
 * its previous owner's (created after that key was gone), so the stamp shuts
 * every previous owner out. And a later owner's key of any of them is created
 * after ours is gone; all our keys of a batch live under one lease, so ours
 * was still there when the batch's newest key was created, and the later
 * key's revision, hence its fence, is higher than the batch's. That holds only
 * for keys that really are ours at that point, so the batch's keys are read
 * back from etcd, at one revision, before the stamp; a key a stale view still
 * showed as ours (an adopt) is left out, or a stamp above its rightful new
 * owner's fence would lock that owner out of the partition. One store
 * write per batch instead of one per partition: a takeover after a node dies
 * is bounded by etcd, not by the store's write latency times the partitions.
 */
export class PartitionOwner implements PartitionOwnership {
  /** Partitions driven: their key's create revision, and the lease the key was confirmed under. */
  private readonly fences = new Map<number, number>();
  /** Partitions driven: the fence their writes carry (their claim batch's, see above). */
  private readonly writeFences = new Map<number, number>();
  private readonly claims: GroupCommit<ClaimRequest, number>;
  private readonly fenceLeases = new Map<number, string>();
  private readonly draining = new Set<number>();
  /** Partitions with an operation under way, and that operation's token (see live()). */
  private readonly busy = new Map<number, symbol>();
  private readonly failures = new Map<number, { count: number; until: number }>();
  private readonly operations = new Set<Promise<void>>();
  private failureReport: { partitions: number[]; actions: Set<string>; err: unknown } | null = null;
  private accepting = true;
  private storeHealthy = true;
  private stopped = false;
  private scheduled = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    private readonly client: Etcd3,
    private readonly keys: ClusterKeys,
    private readonly view: ClusterView,
    private readonly nodeId: string,
    private readonly partitionCount: number,
    private readonly lease: () => LeaseState,
    private readonly hooks: PartitionHooks,
    private readonly logger: Logger,
  ) {
    // One batch at a time: claims arriving meanwhile queue up and go out together next.
    this.claims = new GroupCommit((batch) => this.claimBatch(batch), {
      maxBatch: partitionCount,
      delayMs: 0,
      maxInFlight: 1,
    });
  }

  /** Only under the live lease the key was confirmed under: a paused node writes nothing when it wakes. */
  fenceFor(partition: number): number | null {
    const lease = this.lease();
    if (!lease.alive || this.fenceLeases.get(partition) !== lease.id) return null;
    return this.writeFences.get(partition) ?? null;
  }

  owned(): ReadonlySet<number> {
    const lease = this.lease();
    if (!lease.alive) return new Set();
    return new Set([...this.fences.keys()].filter((p) => this.fenceLeases.get(p) === lease.id));
  }

  isDraining(partition: number): boolean {
    return this.draining.has(partition);
  }

  lost(partition: number): void {
    if (!this.drop(partition)) return;
    this.fail(partition);
    this.logger.warn({ partition }, "a newer owner wrote to the partition: stepped down from it");
  }

  start(subscribe: ((listener: () => void) => () => void)[]): void {
    for (const on of subscribe) this.unsubscribe.push(on(() => this.schedule()));
    this.timer = setInterval(() => this.reconcile(), TICK_MS);
    this.timer.unref();
    this.reconcile();
  }

  /** The store watchdog's verdict: an unreachable store means giving every partition back. */
  setStoreHealthy(healthy: boolean): void {
    this.storeHealthy = healthy;
    // Stamps and drains under way wait on the store that does not answer, holding keys other
    // nodes need: abandon them (each stops at its next step) and hand the keys back now.
    if (!healthy) this.busy.clear();
    this.schedule();
  }

  /**
   * Gives every partition up (drained, keys deleted) and takes no new ones;
   * resolves when all are gone or at `deadline` (epoch ms), whichever is first.
   */
  async releaseAll(deadline: number): Promise<void> {
    this.accepting = false;
    this.reconcile();
    while (Date.now() < deadline && !this.stopped && !this.allReleased())
      await new Promise((r) => setTimeout(r, 20));
  }

  /** Stops deciding; operations under way make no further etcd or store call. */
  stop(): void {
    this.stopped = true;
    for (const off of this.unsubscribe.splice(0)) off();
    if (this.timer) clearInterval(this.timer);
  }

  /** Settles when every operation started so far has ended (for tests and orderly shutdown). */
  async idle(): Promise<void> {
    while (this.operations.size > 0) await Promise.allSettled([...this.operations]);
  }

  private allReleased(): boolean {
    if (this.fences.size > 0 || this.busy.size > 0) return false;
    const lease = this.lease().id;
    for (const key of this.view.owners.values())
      if (key.nodeId === this.nodeId && key.lease === lease) return false;
    return true;
  }

  /** Coalesces bursts of events (a watch delivers many at once) into one decision round. */
  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.reconcile();
    });
  }

  reconcile(): void {
    if (this.stopped) return;
    const now = Date.now();
    const coolingDown = new Set<number>();
    for (const [partition, f] of this.failures) if (f.until > now) coolingDown.add(partition);
    const actions = reconcilePartitions({
      nodeId: this.nodeId,
      partitionCount: this.partitionCount,
      lease: this.lease(),
      accepting: this.accepting,
      storeHealthy: this.storeHealthy,
      members: new Set(this.view.members.keys()),
      assignment: { owners: this.view.assignment.owners, trusted: this.view.assignmentTrusted },
      keys: this.view.owners,
      fences: this.fences,
      busy: new Set(this.busy.keys()),
      coolingDown,
    });
    const dropped = new Map<string, number[]>();
    const started = new Map<string, number[]>();
    for (const action of actions) {
      if (action.type !== "drop") {
        this.execute(action);
        started.set(action.type, [...(started.get(action.type) ?? []), action.partition]);
      } else if (this.drop(action.partition))
        dropped.set(action.reason, [...(dropped.get(action.reason) ?? []), action.partition]);
    }
    for (const [reason, partitions] of dropped)
      this.logger.warn({ partitions, reason }, "stopped driving partitions");
    // One line per decision round that does anything: when a take or a hand-over began.
    if (started.size > 0)
      this.logger.info(
        { ...Object.fromEntries(started), epoch: this.view.assignment.epoch },
        "partition operations started",
      );
  }

  private execute(action: Exclude<PartitionAction, { type: "drop" }>): void {
    const { partition } = action;
    const token = Symbol(action.type);
    this.busy.set(partition, token);
    const operation: Promise<void> = this.run(action, token)
      .then(
        () => void this.failures.delete(partition),
        (err: unknown) => {
          if (!this.live(partition, token)) return;
          this.fail(partition);
          this.report(action.type, partition, err);
        },
      )
      .finally(() => {
        if (this.live(partition, token)) this.busy.delete(partition);
        this.operations.delete(operation);
        this.schedule();
      });
    this.operations.add(operation);
  }

  private run(action: Exclude<PartitionAction, { type: "drop" }>, token: symbol): Promise<void> {
    switch (action.type) {
      case "acquire":
        return this.acquire(action.partition, token);
      case "adopt":
        return this.take(action.partition, action.fence, this.lease().id, token);
      case "release":
        return this.release(action.partition, action.fence, action.drain, token);
      case "delete":
        return this.deleteKey(action.partition, action.fence, token);
    }
  }

  /** False once the operation was abandoned (or the owner stopped): it must not take another step. */
  private live(partition: number, token: symbol): boolean {
    return !this.stopped && this.busy.get(partition) === token;
  }

  private drop(partition: number): boolean {
    this.fenceLeases.delete(partition);
    this.writeFences.delete(partition);
    if (!this.fences.delete(partition)) return false;
    this.draining.delete(partition);
    this.hooks.forget(partition);
    return true;
  }

  /** Failures of one moment (etcd away: every partition at once) make one log line. */
  private report(action: string, partition: number, err: unknown): void {
    const pending = this.failureReport;
    if (pending) {
      pending.partitions.push(partition);
      pending.actions.add(action);
      return;
    }
    this.failureReport = { partitions: [partition], actions: new Set([action]), err };
    setTimeout(() => {
      const report = this.failureReport;
      this.failureReport = null;
      if (!report || this.stopped) return;
      this.logger.warn(
        { err: report.err, partitions: report.partitions, actions: [...report.actions] },
        "partition operations failed; each is retried after a backoff",
      );
    }, 100).unref();
  }

  /** Cool-down before the partition's next operation; returns its length. */
  private fail(partition: number): number {
    const count = (this.failures.get(partition)?.count ?? 0) + 1;
    const delay = clusterRetryDelayMs(count);
    this.failures.set(partition, { count, until: Date.now() + delay });
    return delay;
  }

  private async acquire(partition: number, token: symbol): Promise<void> {
    const lease = this.lease();
    if (!this.live(partition, token) || !lease.alive) return;
    const key = this.keys.owner(partition);
    const fence = await createKeyUnderLease(this.client, this.view, key, this.nodeId, lease.id);
    // null: someone holds it (the view knows who now).
    if (fence !== null) await this.take(partition, fence, lease.id, token);
  }

  /** Stamp the fence in the store, make sure the key is still ours, then drive the partition. */
  private async take(partition: number, fence: number, leaseId: string, token: symbol): Promise<void> {
    if (!this.live(partition, token)) return;
    // On failure (or abandonment) the key stays ours: reconcile adopts it again after a
    // cool-down, or deletes it if unwanted.
    const writeFence = await this.claims.submit({ partition, revision: fence, leaseId });
    if (!this.live(partition, token)) return;
    // The store write may have taken longer than the TTL (a pause, a slow database): check before driving.
    const doubt = await this.doubt(partition, fence, leaseId);
    if (doubt) throw new Error(`not taking partition ${partition} (fence ${fence}): ${doubt}`);
    if (!this.live(partition, token)) return;
    this.fences.set(partition, fence);
    this.writeFences.set(partition, writeFence);
    this.fenceLeases.set(partition, leaseId);
    this.logger.info({ partition, fence: writeFence, keyRevision: fence }, "took partition");
    try {
      await this.hooks.recover(partition);
    } catch (err) {
      this.logger.warn(
        { err, partition },
        "recovering the partition's sagas failed; their timers will retry",
      );
    }
    // Recovery may have taken longer than the TTL too: a lost lease means stepping down
    // (a lease merely in doubt already stops every write, see fenceFor).
    if (this.fences.get(partition) === fence && this.lease().id !== leaseId && this.drop(partition))
      this.logger.warn({ partition }, "stopped driving partition: the lease changed while recovering it");
  }

  /** Stamps a batch of claims, one fence per lease (see the class comment). */
  private async claimBatch(batch: ClaimRequest[]): Promise<BatchOutcome<number>[]> {
    const outcomes: BatchOutcome<number>[] = batch.map(() => ({
      ok: false,
      error: new Error("the ownership key is gone or was replaced before the claim"),
    }));
    try {
      // Every key of the batch must exist, as we created it, at one revision read after all
      // of them were created: only then is the batch's highest revision below any later
      // owner's (see the class comment). A view of our keys may be stale (an adopt).
      const read = await this.client.getAll().prefix(this.keys.owners).exec();
      const held = new Map(read.kvs.map((kv) => [kv.key.toString(), kv]));
      const byLease = new Map<string, number[]>();
      for (const [i, claim] of batch.entries()) {
        const kv = held.get(this.keys.owner(claim.partition));
        if (!kv || Number(kv.create_revision) !== claim.revision || String(kv.lease) !== claim.leaseId)
          continue;
        byLease.set(claim.leaseId, [...(byLease.get(claim.leaseId) ?? []), i]);
      }
      await Promise.all(
        [...byLease.values()].map(async (indexes) => {
          const claims = indexes.map((i) => batch[i] as ClaimRequest);
          const fence = Math.max(...claims.map((c) => c.revision));
          try {
            await this.hooks.claim(
              claims.map((c) => c.partition),
              fence,
            );
            for (const i of indexes) outcomes[i] = { ok: true, value: fence };
          } catch (error) {
            for (const i of indexes) outcomes[i] = { ok: false, error };
          }
        }),
      );
    } catch (error) {
      return batch.map(() => ({ ok: false, error }));
    }
    return outcomes;
  }

  /**
   * Why the key may no longer be ours under `leaseId`, or null when it surely is. A
   * linearizable read finds the key under our lease (etcd deletes an expired lease's keys),
   * but its answer may have waited out a pause (SIGSTOP) before we see it: so the lease clock
   * must also say alive. On a loaded machine a keepalive answer is often just late, so wait a
   * little for one rather than refuse the take.
   */
  private async doubt(partition: number, fence: number, leaseId: string): Promise<string | null> {
    if (this.lease().id !== leaseId) return "the lease was replaced";
    const key = this.keys.owner(partition);
    const read = await this.client.get(key).exec();
    const kv = read.kvs[0];
    this.view.noteRead(key, kv, Number(read.header.revision));
    if (!kv || Number(kv.create_revision) !== fence || String(kv.lease) !== leaseId)
      return "the ownership key is gone or was replaced";
    if (!(await this.leaseConfirmed(leaseId))) return "the lease is not known to be alive";
    return null;
  }

  /** True once the lease clock says `leaseId` is alive; false if it is replaced or stays in doubt. */
  private async leaseConfirmed(leaseId: string): Promise<boolean> {
    const until = Date.now() + LEASE_CONFIRM_WAIT_MS;
    for (;;) {
      const lease = this.lease();
      if (lease.id !== leaseId || this.stopped) return false;
      if (lease.alive) return true;
      if (Date.now() >= until) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private async release(partition: number, fence: number, drain: boolean, token: symbol): Promise<void> {
    this.draining.add(partition);
    try {
      if (drain) await this.hooks.drain(partition);
    } finally {
      if (this.fences.get(partition) === fence) this.drop(partition);
      this.draining.delete(partition);
    }
    if (!this.live(partition, token)) return;
    await this.deleteKey(partition, fence, token);
    this.logger.info({ partition, drained: drain }, "handed partition over");
  }

  /** Deletes this incarnation of the key (its create revision is the fence); a failure is retried by reconcile. */
  private async deleteKey(partition: number, fence: number, token: symbol): Promise<void> {
    if (!this.live(partition, token)) return;
    const key = this.keys.owner(partition);
    const result = await this.client
      .if(key, "Create", "==", fence)
      .then(this.client.delete().key(key))
      .else(this.client.get(key))
      .commit();
    const revision = Number(result.header.revision);
    if (result.succeeded) {
      this.view.noteDeleted(key, revision);
      return;
    }
    this.view.noteRead(key, result.responses[0]?.response_range?.kvs[0], revision);
  }
}
