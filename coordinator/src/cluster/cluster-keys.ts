/** The etcd key layout of one cluster; the prefix lets several clusters share an etcd. */
export class ClusterKeys {
  constructor(readonly prefix: string) {}

  get members(): string {
    return `${this.prefix}/members/`;
  }
  member(nodeId: string): string {
    return `${this.members}${nodeId}`;
  }
  /** The election's name (etcd3's Election API reads the same keys). */
  get election(): string {
    return `${this.prefix}/election`;
  }
  /**
   * Leader candidates, laid out like etcd's election recipe: one key per node
   * lease, value = node id; the lowest create revision leads.
   */
  get candidates(): string {
    return `election/${this.election}/`;
  }
  candidate(leaseId: string): string {
    return `${this.candidates}${leaseId}`;
  }
  get assignment(): string {
    return `${this.prefix}/assignment`;
  }
  get owners(): string {
    return `${this.prefix}/owners/`;
  }
  owner(partition: number): string {
    return `${this.owners}${partition}`;
  }
  partitionOfOwnerKey(key: string): number {
    return Number(key.slice(this.owners.length));
  }
}

export interface MemberInfo {
  nodeId: string;
  address: string;
}

/** The election key a leader wrote with: its key and create revision. */
export interface LeaderStamp {
  key: string;
  revision: number;
}

export interface Assignment {
  epoch: number;
  /** Node id per partition; "" = unassigned. */
  owners: string[];
  /** Who wrote it; readers trust it only while that candidate key still leads the election. */
  leader: LeaderStamp | null;
}
