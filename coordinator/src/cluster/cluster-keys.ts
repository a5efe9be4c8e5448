/** The etcd key layout of one cluster; the prefix lets several clusters share an etcd. */
export class ClusterKeys {
  constructor(readonly prefix: string) {}

  get members(): string {
    return `${this.prefix}/members/`;
  }
  member(nodeId: string): string {
    return `${this.members}${nodeId}`;
  }
  get election(): string {
    return `${this.prefix}/election`;
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

export interface Assignment {
  epoch: number;
  /** Node id per partition; "" = unassigned. */
  owners: string[];
}
