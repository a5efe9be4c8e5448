import type { Etcd3, IKeyValue, Watcher } from "etcd3";
import type { Logger } from "pino";
import type { Assignment, ClusterKeys, LeaderStamp, MemberInfo } from "./cluster-keys.js";

export interface OwnerRecord {
  nodeId: string;
  /** create_revision of the ownership key: the partition's fencing token. */
  fence: number;
  /** The lease the key is bound to ("0" = none). */
  lease: string;
}

export interface Candidate {
  key: string;
  nodeId: string;
  /** create_revision of the candidate key: the lowest leads. */
  revision: number;
}

/** One key as etcd returned it, or as this node wrote it. */
interface SeenKey {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  lease: string;
}

const NO_ASSIGNMENT: Assignment = { epoch: 0, owners: [], leader: null };

/**
 * A live, read-only picture of the cluster kept from etcd watches: members,
 * leader candidates, the published assignment, and the holder of each
 * ownership key. Listeners hear about every change so owners and the leader
 * can react at once. A node's own writes are noted here as soon as etcd
 * confirms them, so it never acts on a picture older than what it did itself.
 */
export class ClusterView {
  readonly members = new Map<string, MemberInfo>();
  readonly owners = new Map<number, OwnerRecord>();
  readonly candidates = new Map<string, Candidate>();
  assignment: Assignment = NO_ASSIGNMENT;
  private readonly watchers: Watcher[] = [];
  private readonly listeners = new Set<() => void>();
  private stopped = false;

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
    try {
      for (const prefix of [`${this.keys.prefix}/`, this.keys.candidates]) {
        const watcher = await this.client.watch().prefix(prefix).create();
        watcher.on("put", (kv) => this.apply(fromEtcd(kv), false));
        watcher.on("delete", (kv) => this.apply(fromEtcd(kv), true));
        // After a reconnect the watch resumes, but reload to be sure nothing was missed.
        watcher.on("connected", () => {
          if (this.stopped) return;
          this.reload().catch((err) => this.logger.warn({ err }, "cluster view reload failed"));
        });
        watcher.on("error", (err) => this.logger.warn({ err }, "cluster watch failed; it reconnects"));
        this.watchers.push(watcher);
      }
    } catch (err) {
      // Start again from nothing when the caller retries.
      await Promise.all(this.watchers.splice(0).map((w) => w.cancel().catch(() => undefined)));
      throw err;
    }
  }

  /** Stops watching; no etcd call is made after this resolves. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.listeners.clear();
    const watchers = this.watchers.splice(0);
    await Promise.all(watchers.map((w) => w.cancel().catch(() => undefined)));
  }

  /**
   * Re-reads everything. Watch events may arrive while the reads are under
   * way, so every key remembers the revision it was last seen at, and a read
   * never overrides a newer event: stale data must not hide a new owner.
   */
  async reload(): Promise<void> {
    if (this.stopped) return;
    const [cluster, candidates] = await Promise.all([
      this.client.getAll().prefix(`${this.keys.prefix}/`).exec(),
      this.client.getAll().prefix(this.keys.candidates).exec(),
    ]);
    const readAt = Math.min(Number(cluster.header.revision), Number(candidates.header.revision));
    const present = new Set<string>();
    for (const kv of [...cluster.kvs, ...candidates.kvs]) {
      present.add(kv.key.toString());
      this.apply(fromEtcd(kv), false, false);
    }
    // Keys we know that the read did not return were deleted at or before readAt.
    for (const [key, revision] of this.revisions) {
      if (!present.has(key) && revision <= readAt && !this.deleted.has(key)) this.forget(key, readAt);
    }
    this.notify();
  }

  /** Records a key this node just created or replaced (etcd answered with `revision`). */
  notePut(key: string, value: string, createRevision: number, revision: number, lease: string): void {
    this.apply({ key, value, createRevision, modRevision: revision, lease }, false);
  }

  /** Records what a read of `key` at `revision` returned (nothing = the key did not exist). */
  noteRead(key: string, kv: IKeyValue | undefined, revision: number): void {
    if (kv) this.apply(fromEtcd(kv), false);
    else this.noteDeleted(key, revision);
  }

  /** Records a key this node just deleted (etcd answered with `revision`). */
  noteDeleted(key: string, revision: number): void {
    this.apply({ key, value: "", createRevision: 0, modRevision: revision, lease: "0" }, true);
  }

  /** The candidate with the lowest create revision, i.e. the elected leader, if any. */
  get leader(): Candidate | undefined {
    let best: Candidate | undefined;
    for (const c of this.candidates.values()) if (!best || c.revision < best.revision) best = c;
    return best;
  }

  /** True when the published assignment was written by the candidate that leads now. */
  get assignmentTrusted(): boolean {
    const stamp = this.assignment.leader;
    const leader = this.leader;
    return !!stamp && !!leader && stamp.key === leader.key && stamp.revision === leader.revision;
  }

  private readonly revisions = new Map<string, number>();
  private readonly deleted = new Set<string>();

  private apply(seen: SeenKey, deleted: boolean, notify = true): void {
    const { key } = seen;
    if (seen.modRevision < (this.revisions.get(key) ?? 0)) return;
    this.revisions.set(key, seen.modRevision);
    if (deleted) {
      this.forget(key, seen.modRevision);
    } else {
      this.deleted.delete(key);
      if (key.startsWith(this.keys.members)) {
        const info = parseJson<MemberInfo>(seen.value);
        if (info) this.members.set(key.slice(this.keys.members.length), info);
      } else if (key.startsWith(this.keys.owners)) {
        const partition = this.keys.partitionOfOwnerKey(key);
        this.owners.set(partition, { nodeId: seen.value, fence: seen.createRevision, lease: seen.lease });
      } else if (key.startsWith(this.keys.candidates)) {
        this.candidates.set(key, { key, nodeId: seen.value, revision: seen.createRevision });
      } else if (key === this.keys.assignment) {
        this.assignment = parseAssignment(seen.value);
      }
    }
    if (notify) this.notify();
  }

  private forget(key: string, revision: number): void {
    this.revisions.set(key, revision);
    this.deleted.add(key);
    if (key.startsWith(this.keys.members)) this.members.delete(key.slice(this.keys.members.length));
    else if (key.startsWith(this.keys.owners)) this.owners.delete(this.keys.partitionOfOwnerKey(key));
    else if (key.startsWith(this.keys.candidates)) this.candidates.delete(key);
    else if (key === this.keys.assignment) this.assignment = NO_ASSIGNMENT;
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

function fromEtcd(kv: IKeyValue): SeenKey {
  return {
    key: kv.key.toString(),
    value: kv.value.toString(),
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
    lease: String(kv.lease),
  };
}

function parseJson<T>(text: string): T | null {
  try {
    return JSON.parse(text) as T;
  } catch {
    return null;
  }
}

/** An assignment without a valid leader stamp (e.g. from an older version) is never trusted. */
function parseAssignment(text: string): Assignment {
  const raw = parseJson<Partial<Assignment>>(text);
  if (!raw || !Array.isArray(raw.owners)) return NO_ASSIGNMENT;
  const leader = raw.leader as LeaderStamp | null | undefined;
  return {
    epoch: Number(raw.epoch) || 0,
    owners: raw.owners.map(String),
    leader:
      leader && typeof leader.key === "string" && Number.isFinite(leader.revision)
        ? { key: leader.key, revision: Number(leader.revision) }
        : null,
  };
}
