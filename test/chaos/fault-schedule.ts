import type { Prng } from "./prng.js";

// The seeded fault schedule: which fault, on what, for how long, in which
// order. Pure: the same seed and settings give the same schedule.

export const FAULT_KINDS = [
  "sigkill", // SIGKILL a coordinator; restart it after the others must have taken over
  "sigstop", // SIGSTOP a coordinator past its lease TTL, then SIGCONT
  "drain", // SIGTERM a coordinator (it drains and exits), then start it again
  "partition", // cut a coordinator's network link, heal it later
  "etcd-restart", // kill etcd, start it again on the same data
  "postgres-restart", // kill PostgreSQL under FerretDB, start it again
  "ferretdb-restart", // kill FerretDB, start it again
  "participant-crash", // SIGKILL a participant, start it again on the same durable state
  "participant-latency", // delay every packet to a participant for a while
] as const;

export type FaultKind = (typeof FAULT_KINDS)[number];

export type ParticipantName = "ts" | "go";

export interface Fault {
  /** 0-based position in the schedule. */
  index: number;
  kind: FaultKind;
  /** A coordinator node id ("node-1"...) or a participant name; empty for etcd and the database. */
  target: string;
  /** How long the fault lasts before it is healed (restart, SIGCONT, link up, latency off). */
  durationMs: number;
  /** participant-latency: added one-way delay. */
  delayMs?: number;
  /** Pause after the fault healed before the next one starts. */
  gapMs: number;
}

export interface ScheduleSettings {
  faults: number;
  nodeIds: readonly string[];
  leaseTtlMs: number;
  /** Relative weights; a kind with weight 0 never occurs. */
  weights?: Partial<Record<FaultKind, number>>;
}

const DEFAULT_WEIGHTS: Record<FaultKind, number> = {
  sigkill: 3,
  sigstop: 2,
  drain: 2,
  partition: 2,
  "etcd-restart": 1.5,
  "postgres-restart": 1,
  "ferretdb-restart": 1,
  "participant-crash": 1.5,
  "participant-latency": 1.5,
};

export function faultSchedule(rng: Prng, settings: ScheduleSettings): Fault[] {
  const weights = { ...DEFAULT_WEIGHTS, ...settings.weights };
  const ttl = settings.leaseTtlMs;
  const faults: Fault[] = [];
  for (let index = 0; index < settings.faults; index++) {
    const kind = rng.weighted(weights);
    const node = () => rng.pick(settings.nodeIds);
    const gapMs = rng.int(1_000, 4_000);
    switch (kind) {
      case "sigkill":
        // Down long enough that the others must take its partitions over (recovery is measured).
        faults.push({ index, kind, target: node(), durationMs: ttl + rng.int(3_000, 8_000), gapMs });
        break;
      case "sigstop":
        faults.push({ index, kind, target: node(), durationMs: ttl + rng.int(1_000, 8_000), gapMs });
        break;
      case "drain":
        faults.push({ index, kind, target: node(), durationMs: rng.int(500, 3_000), gapMs });
        break;
      case "partition":
        // Sometimes shorter than the lease (it must keep its partitions), mostly longer.
        faults.push({ index, kind, target: node(), durationMs: rng.int(2_000, ttl + 8_000), gapMs });
        break;
      case "etcd-restart":
      case "postgres-restart":
      case "ferretdb-restart":
        faults.push({ index, kind, target: "", durationMs: rng.int(1_000, 4_000), gapMs });
        break;
      case "participant-crash":
        faults.push({ index, kind, target: rng.pick(["ts", "go"]), durationMs: rng.int(500, 3_000), gapMs });
        break;
      case "participant-latency":
        faults.push({
          index,
          kind,
          target: rng.pick(["ts", "go"]),
          durationMs: rng.int(3_000, 8_000),
          delayMs: rng.int(100, 1_500),
          gapMs,
        });
        break;
    }
  }
  return faults;
}

/** The schedule's length if every fault took exactly its duration (a lower bound of the real run). */
export function plannedDurationMs(faults: readonly Fault[]): number {
  return faults.reduce((sum, f) => sum + f.durationMs + f.gapMs, 0);
}

/** "sigkill node-2 for 9.1 s" */
export function describeFault(f: Fault): string {
  const what = f.target ? `${f.kind} ${f.target}` : f.kind;
  const delay = f.delayMs ? ` +${f.delayMs} ms` : "";
  return `#${f.index + 1} ${what}${delay} for ${(f.durationMs / 1000).toFixed(1)} s`;
}
