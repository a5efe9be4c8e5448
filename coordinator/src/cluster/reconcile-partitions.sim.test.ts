import { describe, expect, it } from "vitest";
import { type HeldKey, type PartitionAction, reconcilePartitions } from "./reconcile-partitions.js";

// A seeded model of a cluster running reconcilePartitions: several nodes, a
// model etcd (keys with create revisions, bound to leases) and a model store.
// Every operation is split at the same awaits as PartitionOwner's (create,
// stamp, confirm, record, recover; drain, drop, delete), and the steps of all
// nodes interleave at random with faults: etcd outages, store outages, lease
// expiry (a paused node), lagging views, leader changes with an untrusted
// assignment in between, drains. Checked at every step: a node whose lease is
// alive drives only partitions whose key it holds under that lease, with that
// fence. Checked at the end, once the faults stop: every partition is held and
// driven by exactly its assigned node.

const PARTITIONS = 8;
const NODES = ["n1", "n2", "n3"];

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface SimNode {
  id: string;
  lease: string;
  leaseAlive: boolean;
  accepting: boolean;
  storeHealthy: boolean;
  view: Map<number, HeldKey>;
  fences: Map<number, number>;
  /** The lease each fence was taken under: like PartitionOwner, a fence counts only under that lease. */
  fenceLease: Map<number, string>;
  busy: Set<number>;
  coolUntil: Map<number, number>;
}

type Step = () => "next" | "done" | "fail";

interface Operation {
  node: SimNode;
  partition: number;
  steps: Step[];
}

class Sim {
  readonly random: () => number;
  readonly etcd = new Map<number, HeldKey>();
  readonly liveLeases = new Set<string>();
  readonly nodes: SimNode[];
  readonly ops: Operation[] = [];
  revision = 1;
  time = 0;
  etcdDown = false;
  storeDown = false;
  trusted = true;
  owners: string[];

  constructor(seed: number) {
    this.random = mulberry32(seed);
    this.nodes = NODES.map((id) => {
      const lease = this.newLease();
      return {
        id,
        lease,
        leaseAlive: true,
        accepting: true,
        storeHealthy: true,
        view: new Map(),
        fences: new Map(),
        fenceLease: new Map(),
        busy: new Set(),
        coolUntil: new Map(),
      };
    });
    this.owners = this.assign(NODES);
  }

  newLease(): string {
    const id = String(1000 + this.revision++);
    this.liveLeases.add(id);
    return id;
  }

  assign(members: string[]): string[] {
    return Array.from(
      { length: PARTITIONS },
      (_, p) => members[(p * 7 + members.length) % members.length] ?? "",
    );
  }

  members(): Set<string> {
    return new Set(this.nodes.filter((n) => n.accepting && n.storeHealthy).map((n) => n.id));
  }

  reconcile(node: SimNode): void {
    const coolingDown = new Set([...node.coolUntil].filter(([, t]) => t > this.time).map(([p]) => p));
    const actions = reconcilePartitions({
      nodeId: node.id,
      partitionCount: PARTITIONS,
      lease: { id: node.lease, alive: node.leaseAlive },
      accepting: node.accepting,
      storeHealthy: node.storeHealthy,
      members: this.members(),
      assignment: { owners: this.owners, trusted: this.trusted },
      keys: node.view,
      fences: node.fences,
      busy: node.busy,
      coolingDown,
    });
    for (const action of actions) this.execute(node, action);
  }

  execute(node: SimNode, action: PartitionAction): void {
    const p = action.partition;
    if (action.type === "drop") {
      node.fences.delete(p);
      return;
    }
    node.busy.add(p);
    const lease = node.lease;
    let fence =
      action.type === "adopt" || action.type === "release" || action.type === "delete" ? action.fence : 0;
    const take: Step[] = [
      () => (this.storeDown ? "fail" : "next"), // claim
      () => {
        // confirm (a linearizable read of the key), then record in the same tick
        if (this.etcdDown || node.lease !== lease) return "fail";
        const key = this.etcd.get(p);
        this.see(node, p);
        if (!key || key.fence !== fence || key.lease !== lease || key.nodeId !== node.id) return "fail";
        node.fences.set(p, fence);
        node.fenceLease.set(p, lease);
        return "next";
      },
      () => (this.storeDown ? "fail" : "next"), // recover
      () => {
        if (node.fences.get(p) === fence && node.lease !== lease) node.fences.delete(p);
        return "done";
      },
    ];
    const del: Step = () => {
      if (this.etcdDown) return "fail";
      if (this.etcd.get(p)?.fence === fence) this.etcd.delete(p);
      this.see(node, p);
      return "done";
    };
    let steps: Step[];
    switch (action.type) {
      case "acquire":
        steps = [
          () => {
            if (this.etcdDown || !node.leaseAlive || !this.liveLeases.has(lease)) return "fail";
            if (this.etcd.has(p)) {
              this.see(node, p);
              return "done";
            }
            fence = this.revision++;
            this.etcd.set(p, { nodeId: node.id, fence, lease });
            this.see(node, p);
            return "next";
          },
          ...take,
        ];
        break;
      case "adopt":
        steps = take;
        break;
      case "release":
        steps = [
          () => "next", // drain
          () => {
            if (node.fences.get(p) === fence) node.fences.delete(p);
            return "next";
          },
          del,
        ];
        break;
      case "delete":
        steps = [del];
        break;
    }
    this.ops.push({ node, partition: p, steps });
  }

  /** The node's view catches up with etcd for one key (its own writes, a watch event). */
  see(node: SimNode, p: number): void {
    const key = this.etcd.get(p);
    if (key) node.view.set(p, { ...key });
    else node.view.delete(p);
  }

  advance(op: Operation): void {
    const outcome = (op.steps[0] as Step)();
    if (outcome === "next") {
      op.steps.shift();
      return;
    }
    this.ops.splice(this.ops.indexOf(op), 1);
    op.node.busy.delete(op.partition);
    if (outcome === "fail")
      op.node.coolUntil.set(op.partition, this.time + 1 + Math.floor(this.random() * 5));
    else op.node.coolUntil.delete(op.partition);
  }

  expireLease(node: SimNode): void {
    this.liveLeases.delete(node.lease);
    for (const [p, key] of this.etcd) if (key.lease === node.lease) this.etcd.delete(p);
    node.leaseAlive = false; // the lease clock never says alive for longer than etcd keeps the lease
  }

  /** etcd3 declares the lease lost (a keepalive answered TTL 0, or 2 TTLs without an answer). */
  declareLost(node: SimNode): void {
    if (!node.leaseAlive && node.lease !== "") node.lease = "";
  }

  /** One random event; `chaos` allows faults. */
  tick(chaos: boolean): void {
    this.time++;
    const r = this.random();
    const node = this.nodes[Math.floor(this.random() * this.nodes.length)] as SimNode;
    if (chaos && r < 0.03) this.etcdDown = !this.etcdDown;
    else if (chaos && r < 0.05) this.storeDown = !this.storeDown;
    else if (chaos && r < 0.06) this.expireLease(node);
    else if (chaos && r < 0.08) {
      // A leader change: the old assignment stays until the new leader publishes.
      this.trusted = !this.trusted;
      if (this.trusted) this.owners = this.assign([...this.members()]);
    } else if (chaos && r < 0.09) node.storeHealthy = !node.storeHealthy;
    else if (chaos && r < 0.095) node.accepting = !node.accepting;
    else if (chaos && r < 0.1 && node.leaseAlive)
      node.leaseAlive = false; // a late keepalive: doubt only
    else if (r < 0.105 && !node.leaseAlive && this.liveLeases.has(node.lease)) node.leaseAlive = true;
    else if (r < 0.12) this.declareLost(node);
    else if (r < 0.15 && !node.leaseAlive && !this.etcdDown) {
      node.lease = this.newLease(); // rejoin
      node.leaseAlive = true;
    } else if (r < 0.3) {
      for (let p = 0; p < PARTITIONS; p++) if (this.random() < 0.5) this.see(node, p);
    } else if (r < 0.55 || this.ops.length === 0) this.reconcile(node);
    else this.advance(this.ops[Math.floor(this.random() * this.ops.length)] as Operation);
    this.checkSafety();
  }

  checkSafety(): void {
    for (const node of this.nodes) {
      if (!node.leaseAlive) continue;
      for (const [p, fence] of node.fences) {
        if (node.fenceLease.get(p) !== node.lease) continue;
        const key = this.etcd.get(p);
        if (!key || key.nodeId !== node.id || key.lease !== node.lease || key.fence !== fence)
          throw new Error(
            `t=${this.time}: ${node.id} drives partition ${p} (fence ${fence}) but etcd has ${JSON.stringify(key)}`,
          );
      }
    }
  }

  /** Faults over: everything up, every node accepting and healthy, a trusted assignment of all. */
  heal(): void {
    this.etcdDown = false;
    this.storeDown = false;
    for (const node of this.nodes) {
      node.accepting = true;
      node.storeHealthy = true;
    }
    this.trusted = true;
    this.owners = this.assign(NODES);
  }

  converged(): boolean {
    return Array.from({ length: PARTITIONS }, (_, p) => p).every((p) => {
      const key = this.etcd.get(p);
      const owner = this.nodes.find((n) => n.id === this.owners[p]) as SimNode;
      const drivers = this.nodes.filter((n) => n.leaseAlive && n.fences.has(p));
      return (
        key?.nodeId === owner.id &&
        key.lease === owner.lease &&
        owner.fences.get(p) === key.fence &&
        drivers.length === 1 &&
        this.ops.length === 0
      );
    });
  }
}

const SEEDS = 200;
/** A pure model, but CI machines are loaded: give it room rather than fewer seeds. */
const MODEL_TIMEOUT_MS = 120_000;

describe("reconcilePartitions under random interleavings and faults", () => {
  it(
    `never drives a partition without its key, and converges once the faults stop (${SEEDS} seeds)`,
    () => {
      const slowest: number[] = [];
      for (let seed = 1; seed <= SEEDS; seed++) {
        const sim = new Sim(seed);
        for (let i = 0; i < 600; i++) sim.tick(true);
        sim.heal();
        let steps = 0;
        while (!sim.converged()) {
          sim.tick(false);
          if (++steps > 5000)
            throw new Error(`seed ${seed} did not converge: ${JSON.stringify([...sim.etcd])}`);
        }
        slowest.push(steps);
      }
      expect(slowest).toHaveLength(SEEDS);
    },
    MODEL_TIMEOUT_MS,
  );
});
