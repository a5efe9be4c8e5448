import { compact } from "./cluster-convergence.js";
import type { FaultRecord } from "./fault-runner.js";
import { describeFault } from "./fault-schedule.js";
import type { InvariantResult } from "./invariants.js";
import type { Recovery } from "./recovery.js";
import type { StartAttempt, StartResult } from "./workload.js";

// The run-level invariants (faults, StartSaga availability, drains, probes,
// recovery), as pure functions of what the runner recorded.

function invariant(name: string, violations: string[], detail: string): InvariantResult {
  return { name, ok: violations.length === 0, detail, violations: violations.slice(0, 8) };
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

/** Every fault was applied and healed (a node that does not start again is a finding, not noise). */
export function faultsPlayed(records: readonly FaultRecord[]): InvariantResult {
  const violations = records.filter((r) => r.error).map((r) => `${describeFault(r.fault)}: ${r.error}`);
  const kinds = new Map<string, number>();
  for (const r of records) kinds.set(r.fault.kind, (kinds.get(r.fault.kind) ?? 0) + 1);
  const figures = [...kinds].map(([k, n]) => `${n} ${k}`).join(", ");
  return invariant("every fault applied and healed", violations, `${records.length} faults: ${figures}`);
}

/** StartSaga accepted every saga (retrying the same saga_id across nodes) within `boundMs`. */
export function availability(
  results: readonly StartResult[],
  attempts: readonly StartAttempt[],
  faults: readonly FaultRecord[],
  boundMs: number,
): InvariantResult {
  const violations: string[] = [];
  for (const r of results) {
    if (!r.accepted) violations.push(`${r.sagaId} was never accepted (tried for ${secs(r.tookMs)})`);
    else if (r.tookMs > boundMs) violations.push(`${r.sagaId} took ${secs(r.tookMs)} to be accepted`);
  }
  const during = (at: number) => faults.some((f) => at >= f.startedAt && at <= f.healedAt);
  const inFault = attempts.filter((a) => during(a.at));
  const okInFault = inFault.filter((a) => a.outcome === "OK").length;
  const refusals = new Map<string, number>();
  for (const a of attempts)
    if (a.outcome !== "OK") refusals.set(a.outcome, (refusals.get(a.outcome) ?? 0) + 1);
  const took = results.map((r) => r.tookMs).sort((a, b) => a - b);
  const refused = [...refusals].map(([code, n]) => `${n} ${code}`).join(", ") || "none refused";
  const detail =
    `${results.filter((r) => r.accepted).length}/${results.length} accepted; ${attempts.length} attempts (${refused}); ` +
    `during faults ${okInFault}/${inFault.length} attempts OK; time to accept p50 ${secs(percentile(took, 0.5))}, ` +
    `p99 ${secs(percentile(took, 0.99))}, max ${secs(took[took.length - 1] ?? 0)} (bound ${secs(boundMs)})`;
  return invariant("StartSaga available: every saga accepted within the bound", violations, detail);
}

/** A SIGTERMed node exits within --drain-timeout-ms (plus 3 s for shutting the rest down). */
export function drainsBounded(records: readonly FaultRecord[], drainTimeoutMs: number): InvariantResult {
  const bound = drainTimeoutMs + 3_000;
  const drains = records.filter((r) => r.fault.kind === "drain" && !r.error);
  const violations = drains
    .filter((r) => r.drainExitMs === undefined || r.drainExitMs > bound)
    .map((r) =>
      r.drainExitMs === undefined
        ? `${describeFault(r.fault)}: still running ${secs(drainTimeoutMs + 20_000)} after SIGTERM (killed)`
        : `${describeFault(r.fault)}: exited ${secs(r.drainExitMs)} after SIGTERM`,
    );
  const times = drains.flatMap((r) => (r.drainExitMs === undefined ? [] : [r.drainExitMs]));
  const detail = drains.length
    ? `${drains.length} drains, exit after ${times.map(secs).join(", ")} (bound ${secs(bound)})`
    : "no drain in this schedule";
  return invariant("drain bounded by --drain-timeout-ms", violations, detail);
}

/** A probe saga on every partition completed after the run: no partition is left without a driver. */
export function probesCompleted(
  ids: readonly string[],
  statuses: readonly string[],
  partitionOfId: (id: string) => number,
  notTerminal: number,
): InvariantResult {
  const stuck = ids.flatMap((id, i) =>
    statuses[i] === "COMPLETED" ? [] : [{ id, status: statuses[i] ?? "?" }],
  );
  const seen = [...new Set(stuck.map((s) => s.status))].join(", ");
  const violations = stuck.length
    ? [`partitions ${compact(stuck.map((s) => partitionOfId(s.id)))}: probe saga not COMPLETED (${seen})`]
    : [];
  return invariant(
    "every partition drives sagas after the run (one probe saga per partition)",
    violations,
    `${ids.length - stuck.length}/${ids.length} probes COMPLETED${notTerminal ? `, ${notTerminal} not terminal after 60 s` : ""}`,
  );
}

/** After each SIGKILL, the killed node's sagas progress on another node within `boundMs`. */
export function recoveryWithin(recovered: readonly Recovery[], boundMs: number): InvariantResult {
  const violations: string[] = [];
  for (const r of recovered) {
    if (r.waitingOnCall === 0) continue;
    if (r.firstProgressMs === undefined)
      violations.push(`${r.node}: none of its ${r.waitingOnCall} sagas waiting on a call progressed`);
    else if (r.firstProgressMs > boundMs || !r.byAnotherNode)
      violations.push(
        `${r.node}: first progress after ${secs(r.firstProgressMs)}${r.byAnotherNode ? "" : " (after it restarted)"}`,
      );
  }
  const measured = recovered
    .filter((r) => r.firstProgressMs !== undefined)
    .map((r) => r.firstProgressMs as number);
  const detail = measured.length
    ? `${recovered.length} kills, first progress after ${measured.map(secs).join(", ")} (target ${secs(boundMs)})`
    : `${recovered.length} kills, none with sagas waiting on a call`;
  return invariant("SIGKILLed node's sagas progress elsewhere within lease TTL + 2 s", violations, detail);
}
