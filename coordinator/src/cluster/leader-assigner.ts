import type { Campaign, Etcd3 } from "etcd3";
import type { Logger } from "pino";
import type { ClusterKeys } from "./cluster-keys.js";
import type { ClusterView } from "./cluster-view.js";
import { assignPartitions } from "./partition-assignment.js";

/**
 * Campaigns for leadership with the etcd election API. While leader, maps
 * the partitions onto the live members and publishes the assignment whenever
 * membership changes. Everyone else only reads the assignment.
 */
export class LeaderAssigner {
  private campaign: Campaign | null = null;
  private leader = false;
  private stopped = false;
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly client: Etcd3,
    private readonly keys: ClusterKeys,
    private readonly view: ClusterView,
    private readonly nodeId: string,
    private readonly partitionCount: number,
    private readonly leaseTtlSeconds: number,
    private readonly logger: Logger,
  ) {}

  get isLeader(): boolean {
    return this.leader;
  }

  start(): void {
    this.stopped = false;
    this.unsubscribe = this.view.onChange(() => {
      if (this.leader) void this.publish();
    });
    this.run();
  }

  async leaderId(): Promise<string> {
    return (await this.client.election(this.keys.election, this.leaseTtlSeconds).leader()) ?? "";
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    const campaign = this.campaign;
    this.campaign = null;
    this.leader = false;
    if (campaign) await campaign.resign().catch(() => undefined);
  }

  private run(): void {
    if (this.stopped) return;
    const campaign = this.client.election(this.keys.election, this.leaseTtlSeconds).campaign(this.nodeId);
    this.campaign = campaign;
    campaign.on("elected", () => {
      this.leader = true;
      this.logger.info("elected leader");
      void this.publish();
    });
    campaign.on("error", (err: unknown) => {
      this.leader = false;
      this.logger.warn({ err }, "leadership campaign failed; campaigning again");
      setTimeout(() => this.run(), 500).unref();
    });
  }

  private publishing = false;
  private again = false;

  /** Publishes the assignment for the current members if it differs from the published one. */
  private async publish(): Promise<void> {
    if (this.publishing) {
      this.again = true;
      return;
    }
    this.publishing = true;
    try {
      do {
        this.again = false;
        const members = [...this.view.members.keys()];
        const owners = assignPartitions(members, this.partitionCount);
        const current = this.view.assignment;
        if (current.owners.length === owners.length && current.owners.every((o, i) => o === owners[i]))
          continue;
        const next = { epoch: current.epoch + 1, owners };
        await this.client.put(this.keys.assignment).value(JSON.stringify(next));
        this.view.assignment = next;
        this.logger.info({ epoch: next.epoch, members }, "published partition assignment");
      } while (this.again && this.leader);
    } catch (err) {
      this.logger.warn({ err }, "publishing the assignment failed; will retry on the next change");
      setTimeout(() => void (this.leader && this.publish()), 500).unref();
    } finally {
      this.publishing = false;
    }
  }
}
