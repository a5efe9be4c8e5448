import type { Etcd3, IKeyValue, Watcher } from "etcd3";
import type { Logger } from "pino";
import type { Assignment, ClusterKeys, MemberInfo } from "./cluster-keys.js";

export interface OwnerRecord {
  nodeId: string;
  /** create_revision of the ownership key: the partition's fencing token. */
  fence: number;
}

/**
 * A live, read-only picture of the cluster kept from etcd watches: members,
 * the published assignment, and the holder of each ownership key. Listeners
 * hear about every change so owners and the leader can react at once.
 */
export class ClusterView {
  readonly members = new Map<string, MemberInfo>();
  readonly owners = new Map<number, OwnerRecord>();
  assignment: Assignment = { epoch: 0, owners: [] };
  private readonly watchers: Watcher[] = [];
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly client: Etcd3,
    private readonly keys: ClusterKeys,
    private readonly logger: Logger,
  ) {}

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async start(): Promise<void> {
    await this.reload();
    for (const prefix of [this.keys.members, this.keys.owners, this.keys.assignment]) {
      const watcher = await this.client.watch().prefix(prefix).create();
      watcher.on("put", (kv) => this.apply(kv, false));
      watcher.on("delete", (kv) => this.apply(kv, true));
      // After a reconnect the watch resumes, but reload to be sure nothing was missed.
      watcher.on(
        "connected",
        () => void this.reload().catch((err) => this.logger.warn({ err }, "cluster view reload failed")),
      );
      this.watchers.push(watcher);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.watchers.map((w) => w.cancel()));
    this.watchers.length = 0;
  }

  /**
   * Re-reads everything. Watch events may arrive while the reads are under
   * way, so every key remembers the revision it was last seen at, and a read
   * never overrides a newer event: stale data must not hide a new owner.
   */
  async reload(): Promise<void> {
    const [members, owners, assignment] = await Promise.all([
      this.client.getAll().prefix(this.keys.members).exec(),
      this.client.getAll().prefix(this.keys.owners).exec(),
      this.client.get(this.keys.assignment).exec(),
    ]);
    const readAt = Math.min(...[members, owners, assignment].map((r) => Number(r.header.revision)));
    const present = new Set<string>();
    for (const kv of [...members.kvs, ...owners.kvs, ...assignment.kvs]) {
      present.add(kv.key.toString());
      this.apply(kv, false, false);
    }
    // Keys we know that the read did not return were deleted at or before readAt.
    for (const [key, revision] of this.revisions) {
      if (!present.has(key) && revision <= readAt && !this.deleted.has(key)) this.forget(key, readAt);
    }
    this.notify();
  }

  private readonly revisions = new Map<string, number>();
  private readonly deleted = new Set<string>();

  private apply(kv: IKeyValue, deleted: boolean, notify = true): void {
    const key = kv.key.toString();
    const revision = Number(kv.mod_revision);
    if (revision < (this.revisions.get(key) ?? 0)) return;
    this.revisions.set(key, revision);
    if (deleted) {
      this.forget(key, revision);
    } else {
      this.deleted.delete(key);
      if (key.startsWith(this.keys.members)) {
        this.members.set(key.slice(this.keys.members.length), JSON.parse(kv.value.toString()) as MemberInfo);
      } else if (key.startsWith(this.keys.owners)) {
        const partition = this.keys.partitionOfOwnerKey(key);
        this.owners.set(partition, { nodeId: kv.value.toString(), fence: Number(kv.create_revision) });
      } else if (key === this.keys.assignment) {
        this.assignment = JSON.parse(kv.value.toString()) as Assignment;
      }
    }
    if (notify) this.notify();
  }

  private forget(key: string, revision: number): void {
    this.revisions.set(key, revision);
    this.deleted.add(key);
    if (key.startsWith(this.keys.members)) this.members.delete(key.slice(this.keys.members.length));
    else if (key.startsWith(this.keys.owners)) this.owners.delete(this.keys.partitionOfOwnerKey(key));
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }

  /** The address of the node holding the partition's ownership key, if any. */
  ownerAddress(partition: number): string | undefined {
    const owner = this.owners.get(partition);
    return owner ? this.members.get(owner.nodeId)?.address : undefined;
  }
}
