import { setTimeout as sleep } from "node:timers/promises";
import { call } from "../support/grpc-call.js";
import type { ChaosLab } from "./chaos-lab.js";
import { describeFault, type Fault } from "./fault-schedule.js";
import type { KillRecord } from "./recovery.js";

// Plays the fault schedule against the lab, one fault after the other: each
// fault is applied, lasts its duration, and is healed (restart, SIGCONT, link
// up, latency off) before the gap to the next one.

export interface FaultRecord {
  fault: Fault;
  /** Epoch ms applied / healed. */
  startedAt: number;
  healedAt: number;
  /** What went wrong applying or healing it (e.g. a node that did not start again). */
  error?: string;
  /** drain: ms from SIGTERM to the process's exit; undefined if it had to be killed. */
  drainExitMs?: number;
  /** sigkill: what the recovery measurement needs. */
  kill?: KillRecord;
}

export async function playFaults(
  lab: ChaosLab,
  faults: readonly Fault[],
  log: (line: string) => void,
  records: FaultRecord[],
): Promise<void> {
  for (const fault of faults) {
    log(`fault ${describeFault(fault)}`);
    const record: FaultRecord = { fault, startedAt: Date.now(), healedAt: 0 };
    try {
      await ensureCoordinatorsRunning(lab, log);
      await applyAndHeal(lab, fault, record);
    } catch (err) {
      record.error = err instanceof Error ? err.message.split("\n")[0] : String(err);
      log(`  fault #${fault.index + 1} went wrong: ${record.error}`);
    }
    record.healedAt = Date.now();
    records.push(record);
    await sleep(fault.gapMs);
  }
}

/** Starts any coordinator that is down (a restart that failed earlier); throws if one does not come up. */
export async function ensureCoordinatorsRunning(lab: ChaosLab, log: (line: string) => void): Promise<void> {
  for (const c of lab.coordinators.values()) {
    if (c.process.running) continue;
    log(`  ${c.nodeId} is down: starting it again`);
    await c.process.start();
  }
}

async function partitionsOf(lab: ChaosLab, nodeId: string): Promise<number[]> {
  // Ask another node: the victim's own answer would not matter once it is dead.
  for (const c of lab.coordinators.values()) {
    if (c.nodeId === nodeId || !c.process.running) continue;
    try {
      const s = await call(c.admin.getClusterStatus, c.admin, {}, 3_000);
      return s.partitions.filter((p) => p.ownerNodeId === nodeId).map((p) => p.partition);
    } catch {
      // try the next one
    }
  }
  return [];
}

async function applyAndHeal(lab: ChaosLab, fault: Fault, record: FaultRecord): Promise<void> {
  const wait = () => sleep(fault.durationMs);
  switch (fault.kind) {
    case "sigkill": {
      const c = lab.coordinator(fault.target);
      const partitions = await partitionsOf(lab, fault.target);
      const at = Date.now();
      c.process.note("chaos: SIGKILL");
      await c.process.kill();
      await wait();
      await c.process.start();
      record.kill = { node: fault.target, at, restartedAt: Date.now(), partitions };
      return;
    }
    case "sigstop": {
      const c = lab.coordinator(fault.target);
      c.process.note("chaos: SIGSTOP");
      c.process.signal("SIGSTOP");
      await wait();
      c.process.signal("SIGCONT");
      c.process.note("chaos: SIGCONT");
      return;
    }
    case "drain": {
      const c = lab.coordinator(fault.target);
      const at = Date.now();
      c.process.note("chaos: SIGTERM (drain)");
      c.process.signal("SIGTERM");
      const bound = lab.settings.drainTimeoutMs + 20_000;
      if (await c.process.waitExit(bound)) record.drainExitMs = Date.now() - at;
      else {
        c.process.note(`chaos: still running ${bound} ms after SIGTERM: SIGKILL`);
        await c.process.kill();
      }
      await wait();
      await c.process.start();
      return;
    }
    case "partition": {
      const c = lab.coordinator(fault.target);
      c.process.note("chaos: network cut");
      lab.network.cut(fault.target);
      try {
        await wait();
      } finally {
        lab.network.heal(fault.target);
        c.process.note("chaos: network healed");
      }
      return;
    }
    case "etcd-restart":
      await lab.etcd.kill();
      await wait();
      await lab.etcd.start();
      return;
    case "postgres-restart":
      await lab.mongo.restartBackend("postgresql", { downMs: fault.durationMs });
      return;
    case "ferretdb-restart":
      await lab.mongo.restartBackend("ferretdb", { downMs: fault.durationMs });
      return;
    case "participant-crash": {
      const p = lab.participants.get(fault.target as "ts" | "go");
      if (!p) throw new Error(`no participant ${fault.target}`);
      p.note("chaos: SIGKILL");
      await p.kill();
      await wait();
      await p.start();
      return;
    }
    case "participant-latency": {
      const name = fault.target as "ts" | "go";
      lab.setLatency(name, fault.delayMs ?? 500);
      try {
        await wait();
      } finally {
        lab.setLatency(name, 0);
      }
      return;
    }
  }
}
