import type { Etcd3 } from "etcd3";
import type { Logger } from "pino";
import type { Assignment, ClusterKeys } from "./cluster-keys.js";
import type { Candidate, ClusterView } from "./cluster-view.js";
import { createKeyUnderLease } from "./create-key.js";
import type { LeaseState } from "./node-membership.js";
import { assignPartitions } from "./partition-assignment.js";
import { SerialTask } from "./serial-task.js";

/** Safety net for a missed event; every real change arrives as one. */
const TICK_MS = 1000;

/**
 * Leader election by etcd's recipe, on this node's own lease: each node puts
 * one candidate key (value = node id) under it, and the key with the lowest
 * create revision leads (etcd3's Election API reads the same keys). The leader
 * maps the partitions onto the live members and publishes the assignment with
 * a transaction that succeeds only while its candidate key, with the same
 * create revision, still exists — what etcd's Proclaim does — and stamps the
 * assignment with that key, so readers can tell an assignment of a former
 * leader. One step at a time; a failed one is retried with capped, jittered
 * backoff, so an etcd outage costs a few calls, not a storm.
 */
export class LeaderAssigner {
  private leading = false;
  private stopped = true;
  private tick: NodeJS.Timeout | null = null;
  private readonly unsubscribe: (() => void)[] = [];
  private readonly task = new SerialTask(
    () => this.campaignAndPublish(),
    (err, retryInMs) => this.logger.warn({ err, retryInMs }, "leader election step failed; retrying"),
  );

  constructor(
    private readonly client: Etcd3,
    private readonly keys: ClusterKeys,
    private readonly view: ClusterView,
    private readonly nodeId: string,
    private readonly partitionCount: number,
    private readonly lease: () => LeaseState,
    private readonly logger: Logger,
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  start(subscribe: ((listener: () => void) => () => void)[]): void {
    this.stopped = false;
    for (const on of subscribe) this.unsubscribe.push(on(() => this.task.request()));
    this.tick = setInterval(() => this.task.request(), TICK_MS);
    this.tick.unref();
    this.task.request();
  }

  /** Stops campaigning and withdraws the candidacy (a new leader is elected at once). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const off of this.unsubscribe.splice(0)) off();
    if (this.tick) clearInterval(this.tick);
    await this.task.stop();
    this.leading = false;
    const lease = this.lease();
    const mine = this.view.candidates.get(this.keys.candidate(lease.id));
    if (mine) {
      await this.client
        .if(mine.key, "Create", "==", mine.revision)
        .then(this.client.delete().key(mine.key))
        .commit();
    }
  }

  private async campaignAndPublish(): Promise<void> {
    const lease = this.lease();
    if (lease.id === "") return this.setLeading(false);
    // In doubt (a late keepalive): do nothing now; a lost lease takes the candidate key with it.
    if (!lease.alive) return;
    const key = this.keys.candidate(lease.id);
    if (!this.view.candidates.has(key))
      await createKeyUnderLease(this.client, this.view, key, this.nodeId, lease.id);
    const mine = this.view.candidates.get(key);
    if (this.stopped || !mine) return;
    this.setLeading(this.view.leader?.key === key);
    if (this.leading) await this.publish(mine);
  }

  private setLeading(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    if (leading) this.logger.info("elected leader");
    else this.logger.info("no longer the leader");
  }

  /** Publishes the assignment for the current members unless this leader already published it. */
  private async publish(me: Candidate): Promise<void> {
    const members = [...this.view.members.keys()];
    const owners = assignPartitions(members, this.partitionCount);
    const current = this.view.assignment;
    const stamped = current.leader?.key === me.key && current.leader.revision === me.revision;
    if (stamped && current.owners.length === owners.length && current.owners.every((o, i) => o === owners[i]))
      return;
    const next: Assignment = {
      epoch: current.epoch + 1,
      owners,
      leader: { key: me.key, revision: me.revision },
    };
    const value = JSON.stringify(next);
    const result = await this.client
      .if(me.key, "Create", "==", me.revision)
      .then(this.client.put(this.keys.assignment).value(value))
      .commit();
    if (!result.succeeded) {
      // Our candidate key is gone (lease lost): whoever leads now publishes.
      this.setLeading(false);
      return;
    }
    const revision = Number(result.header.revision);
    this.view.notePut(this.keys.assignment, value, revision, revision, "0");
    this.logger.info({ epoch: next.epoch, members }, "published partition assignment");
  }
}
