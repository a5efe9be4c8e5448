import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type ServiceError, status } from "@grpc/grpc-js";
import { partitionOf } from "../../coordinator/src/cluster/partition-of.js";
import { call } from "../support/grpc-call.js";
import { ChaosLab } from "./chaos-lab.js";
import { clusterConverged } from "./cluster-convergence.js";
import {
  dumpStuckSagas,
  getSaga,
  mapLimit,
  readEtcd,
  readLedgers,
  readNodeStatuses,
  readSagas,
  statusName,
} from "./collect.js";
import { ensureCoordinatorsRunning, type FaultRecord, playFaults } from "./fault-runner.js";
import { describeFault, faultSchedule, plannedDurationMs } from "./fault-schedule.js";
import {
  compensatedExactlyOnce,
  completedExactlyOnce,
  designedOutcomes,
  everySagaTerminal,
  type FinalSaga,
  getSagaAgreesWithLedgers,
  type InvariantResult,
  noEffectTwice,
} from "./invariants.js";
import { Prng } from "./prng.js";
import { recoveries } from "./recovery.js";
import { availability, drainsBounded, faultsPlayed, probesCompleted, recoveryWithin } from "./run-checks.js";
import { planSagas, startRequest } from "./saga-mix.js";
import { type StartAttempt, startSagas } from "./workload.js";

// One chaos run: start the lab, start the sagas while the fault schedule
// plays, heal everything, wait for the sagas to finish, then check every
// invariant and print one line per invariant.

export interface ChaosOptions {
  sagas: number;
  faults: number;
  seed: number;
  partitions: number;
  leaseTtlSeconds: number;
  drainTimeoutMs: number;
  /** StartSaga calls in flight at once. */
  concurrency: number;
  /** How long the sagas may take to finish once the last fault is healed. */
  finishTimeoutMs: number;
  /** Fail the run when a SIGKILLed node's sagas take longer than lease TTL + 2 s to progress. */
  assertRecovery: boolean;
  /** StartSaga must accept every saga within this long (retrying across nodes). */
  startBoundMs: number;
  /** Where run directories go. */
  runRoot: string;
}

export interface ChaosOutcome {
  runDir: string;
  passed: number;
  failed: number;
  invariants: InvariantResult[];
}

const NODE_IDS = ["node-1", "node-2", "node-3"];

export async function runChaos(options: ChaosOptions, print: (line: string) => void): Promise<ChaosOutcome> {
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "").replace("T", "-");
  const runId = `${stamp.slice(4)}s${options.seed}`;
  const runDir = path.join(options.runRoot, `${stamp}-seed-${options.seed}`);
  mkdirSync(runDir, { recursive: true });
  writeFileSync(path.join(runDir, "options.json"), `${JSON.stringify(options, null, 2)}\n`);
  const t0 = Date.now();
  const timeline: string[] = [];
  const log = (line: string) => {
    const stamped = `[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}`;
    timeline.push(stamped);
    print(stamped);
  };

  const rng = new Prng(options.seed);
  const faults = faultSchedule(rng.fork(), {
    faults: options.faults,
    nodeIds: NODE_IDS,
    leaseTtlMs: options.leaseTtlSeconds * 1000,
  });
  const planned = planSagas(rng.fork(), options.sagas, runId);
  const payloadRng = rng.fork();
  writeFileSync(
    path.join(runDir, "schedule.txt"),
    `${faults.map(describeFault).join("\n")}\n\n${planned.map((p) => `${p.sagaId} ${p.shape} -> ${p.expected}`).join("\n")}\n`,
  );
  print(
    `chaos run seed ${options.seed}: 3 coordinators (lease TTL ${options.leaseTtlSeconds} s, ${options.partitions} partitions), ` +
      `${options.sagas} sagas, ${options.faults} faults; run directory ${runDir}`,
  );

  const lab = await ChaosLab.start(
    {
      runId,
      runDir,
      nodeIds: NODE_IDS,
      partitions: options.partitions,
      leaseTtlSeconds: options.leaseTtlSeconds,
      drainTimeoutMs: options.drainTimeoutMs,
    },
    log,
  );
  try {
    const addresses = { ts: lab.participantAddress("ts"), go: lab.participantAddress("go") };
    const requests = planned.map((p) => startRequest(p, addresses, payloadRng));
    await waitSettled(lab, 180_000);
    log(`cluster formed; starting ${planned.length} sagas while ${faults.length} faults play`);

    const attempts: StartAttempt[] = [];
    const records: FaultRecord[] = [];
    const window = Math.max(plannedDurationMs(faults), 10_000);
    const workload = {
      startAt: Date.now(),
      spacingMs: window / Math.max(1, planned.length),
      concurrency: options.concurrency,
      attemptTimeoutMs: 5_000,
      giveUpMs: Math.max(options.startBoundMs * 2, 60_000),
      stopBy: Number.POSITIVE_INFINITY,
      progress: log,
    };
    const starting = startSagas(lab, requests, workload, attempts);
    // Sagas in flight before the first fault, so the first kill has something to recover.
    await sleep(Math.min(10_000, window / 10));
    await playFaults(lab, faults, log, records);
    // Sagas still waiting to be tried get two more minutes; past that they count as not accepted.
    workload.stopBy = Date.now() + 120_000;
    log("fault schedule done");
    const started = await starting;
    log(
      `all StartSaga calls returned (${started.filter((s) => s.accepted).length}/${planned.length} accepted)`,
    );

    await ensureCoordinatorsRunning(lab, log);
    for (const p of lab.participants.values()) if (!p.running) await p.start();
    // Every planned saga: one whose StartSaga timed out on the client may exist all the same.
    const pending = await waitTerminal(
      lab,
      planned.map((p) => p.sagaId),
      options.finishTimeoutMs,
      log,
    );
    log(
      pending.length === 0
        ? "every saga is terminal"
        : `${pending.length} sagas still not terminal after ${options.finishTimeoutMs} ms (store documents in stuck-sagas.json)`,
    );
    if (pending.length > 0) {
      const stuck = await dumpStuckSagas(lab, pending).catch((err: unknown) => [{ error: String(err) }]);
      writeFileSync(path.join(runDir, "stuck-sagas.json"), `${JSON.stringify(stuck, null, 2)}\n`);
    }

    const probes = await runProbes(lab, runId, log);
    const convergence = await waitConverged(lab, 60_000);
    log("reading sagas, ledgers and histories");
    const ends = await readSagas(lab, planned);
    const finals = new Map([...ends].map(([id, e]) => [id, e.final]));
    // A saga that was never accepted and does not exist is the availability line's business; one that
    // was accepted and is missing is a lost saga, which "every saga terminal" reports.
    const accepted = new Set(started.filter((s) => s.accepted).map((s) => s.sagaId));
    const checked = planned.filter(
      (p) => accepted.has(p.sagaId) || finals.get(p.sagaId)?.status !== "MISSING",
    );
    const ledger = await readLedgers(lab, planned);
    const kills = records.flatMap((r) => (r.kill ? [r.kill] : []));
    const recovered = recoveries(
      kills,
      [...ends.values()].map((e) => e.timeline),
    );

    const invariants: InvariantResult[] = [
      faultsPlayed(records),
      availability(started, attempts, records, options.startBoundMs),
      everySagaTerminal(checked.map((p) => finals.get(p.sagaId) as FinalSaga)),
      designedOutcomes(checked, finals),
      completedExactlyOnce(checked, finals, ledger),
      compensatedExactlyOnce(checked, finals, ledger),
      noEffectTwice(planned, ledger),
      getSagaAgreesWithLedgers(checked, finals, ledger),
      convergence,
      probes,
      drainsBounded(records, options.drainTimeoutMs),
    ];
    const recovery = recoveryWithin(recovered, options.leaseTtlSeconds * 1000 + 2_000);
    if (options.assertRecovery) invariants.push(recovery);

    print("");
    for (const r of recovered) {
      const first =
        r.firstProgressMs === undefined
          ? "no progress seen"
          : `first progress after ${(r.firstProgressMs / 1000).toFixed(1)} s`;
      const all =
        r.allProgressedMs === undefined ? "" : `, all of them by ${(r.allProgressedMs / 1000).toFixed(1)} s`;
      print(
        `INFO SIGKILL ${r.node} at ${((r.at - t0) / 1000).toFixed(1)} s: ${r.inFlight} sagas in flight, ${r.waitingOnCall} waiting on a call: ${first}${all}${r.byAnotherNode || r.firstProgressMs === undefined ? "" : " (only after it restarted)"}`,
      );
    }
    if (!options.assertRecovery) print(`INFO ${recovery.name}: ${recovery.detail} (reported, not asserted)`);
    for (const inv of invariants) {
      print(`${inv.ok ? "PASS" : "FAIL"} ${inv.name}: ${inv.detail}`);
      for (const v of inv.violations) print(`       ${v}`);
    }
    const failed = invariants.filter((i) => !i.ok).length;
    const passed = invariants.length - failed;
    print(`${passed} passed, ${failed} failed`);
    print(`seed ${options.seed}; logs and results in ${runDir}`);
    if (failed > 0) print(`replay: npm run chaos -- --replay ${runDir}`);
    writeFileSync(
      path.join(runDir, "results.json"),
      `${JSON.stringify({ options, passed, failed, invariants, recoveries: recovered, faults: records, starts: started, attempts }, null, 2)}\n`,
    );
    writeFileSync(path.join(runDir, "timeline.log"), `${timeline.join("\n")}\n`);
    return { runDir, passed, failed, invariants };
  } finally {
    await lab.stop();
  }
}

async function waitSettled(lab: ChaosLab, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const result = clusterConverged(
      [...lab.coordinators.keys()],
      lab.settings.partitions,
      await readNodeStatuses(lab),
      await readEtcd(lab),
    );
    if (result.ok) return;
    if (Date.now() > until) throw new Error(`the cluster did not form: ${result.violations.join("; ")}`);
    await sleep(500);
  }
}

async function waitConverged(lab: ChaosLab, timeoutMs: number): Promise<InvariantResult> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const live = [...lab.coordinators.values()].filter((c) => c.process.running).map((c) => c.nodeId);
    const result = clusterConverged(
      live,
      lab.settings.partitions,
      await readNodeStatuses(lab),
      await readEtcd(lab).catch(() => ({ members: new Map(), owners: new Map(), assignment: [] })),
    );
    if (result.ok || Date.now() > until) return result;
    await sleep(1_000);
  }
}

/** Polls the sagas until all are terminal (or do not exist); returns those that are not. */
async function waitTerminal(
  lab: ChaosLab,
  ids: string[],
  timeoutMs: number,
  log: (l: string) => void,
): Promise<string[]> {
  const until = Date.now() + timeoutMs;
  let open = ids;
  let lastLog = 0;
  while (open.length > 0 && Date.now() < until) {
    const states = await mapLimit(open, 8, async (id) => {
      if (Date.now() > until) return id;
      const res = await getSaga(lab, id, false, until).catch((err: ServiceError) =>
        err.code === status.NOT_FOUND ? "missing" : undefined,
      );
      if (res === "missing") return null;
      const s = statusName(res?.saga?.status);
      return s === "COMPLETED" || s === "COMPENSATED" || s === "FAILED" ? null : id;
    });
    open = states.filter((id): id is string => id !== null);
    if (open.length > 0) {
      if (Date.now() - lastLog > 10_000) {
        log(`  waiting for ${open.length} sagas to finish`);
        lastLog = Date.now();
      }
      await sleep(1_000);
    }
  }
  return open;
}

/** One one-step saga on every partition after the run: each must complete, so every partition is driven. */
async function runProbes(lab: ChaosLab, runId: string, log: (l: string) => void): Promise<InvariantResult> {
  const P = lab.settings.partitions;
  const ids: string[] = new Array(P);
  for (let n = 0, found = 0; found < P; n++) {
    const id = `probe-${runId}-${n}`;
    const p = partitionOf(id, P);
    if (ids[p] === undefined) {
      ids[p] = id;
      found++;
    }
  }
  const nodes = [...lab.coordinators.values()];
  const participant = lab.participantAddress("ts");
  log(`starting ${P} probe sagas, one per partition`);
  const t = Date.now();
  await mapLimit(ids, 8, async (sagaId) => {
    for (let attempt = 0; attempt < 30; attempt++) {
      const c = nodes[attempt % nodes.length];
      if (!c) return;
      try {
        await call(
          c.client.startSaga,
          c.client,
          {
            sagaId,
            sagaType: "chaos-probe",
            labels: {},
            steps: [
              {
                name: "probe",
                participant,
                payload: Buffer.from("{}"),
                contentType: "application/json",
                dependsOn: [],
                kind: 0,
              },
            ],
          },
          3_000,
        );
        return;
      } catch {
        await sleep(200);
      }
    }
  });
  const stuck = (await waitTerminal(lab, ids, 60_000, log)).length;
  const finals = await mapLimit(ids, 8, async (id) =>
    statusName((await getSaga(lab, id, false).catch(() => undefined))?.saga?.status),
  );
  log(`probe sagas done in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  return probesCompleted(ids, finals, (id) => partitionOf(id, P), stuck);
}
