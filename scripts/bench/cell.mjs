// One cell of the matrix: fresh coordinator process(es) and database, an
// idle sample, a warm-up, then a measured window of steady load with CPU,
// memory and store round trips read at its ends.
import { randomUUID } from "node:crypto";
import { SagaClient } from "@saga-coordinator/participant-sdk";
import { MongoClient } from "mongodb";
import { startCoordinators } from "./coordinators.mjs";
import { cpuMs, vmMiB } from "./proc-stats.mjs";
import { percentile, runSagaLoad } from "./saga-load.mjs";
import { readStoreRoundTrips, roundTripDelta } from "./store-round-trips.mjs";

const IDLE_SAMPLE_MS = 2_000;
/** The warm-up ends after `warmup` finished sagas or this long, whichever comes first. */
const WARMUP_MAX_SECONDS = 30;

/** Label of a cell, e.g. "start 3n 10 steps C=200". */
export const cellName = (c) => `${c.mode} ${c.nodes}n ${c.steps} steps C=${c.concurrency}`;

export async function runCell(cell, { participant, services, log }) {
  const { mode, nodes: count, steps, concurrency, sagas, warmup } = cell;
  const id = randomUUID().slice(0, 8);
  const database = `bench_${id}`;
  log(`${cellName(cell)}: starting ${count} coordinator process(es)`);
  const cluster = await startCoordinators({
    mode,
    count,
    mongoUri: services.mongoUri,
    database,
    etcd: services.etcd,
    extraArgs: cell.coordinatorArgs,
  });
  const clients = cluster.nodes.map((n) => new SagaClient({ address: n.address }));
  const shouldAbort = () => {
    const dead = cluster.crashed();
    return dead ? `${dead.name} died:\n${dead.output().slice(-2000)}` : null;
  };
  try {
    // What the nodes burn with no saga at all (timers, etcd leases, partition polls), for reading CPU per saga.
    const pids = cluster.nodes.map((n) => n.pid);
    const idleBefore = pids.map(cpuMs);
    await new Promise((r) => setTimeout(r, IDLE_SAMPLE_MS));
    const idleCpuMsPerSecond =
      (pids.reduce((sum, pid, i) => sum + cpuMs(pid) - idleBefore[i], 0) * 1000) / IDLE_SAMPLE_MS;

    // Snapshots at both ends of the measured window: CPU read next to the window's clock,
    // round trips just outside it (a scrape takes milliseconds).
    const snapshot = async (cpuFirst) => {
      const at = {};
      if (cpuFirst) at.cpu = pids.map(cpuMs);
      at.trips = await Promise.all(cluster.nodes.map((n) => readStoreRoundTrips(n.metricsAddress)));
      at.cpu ??= pids.map(cpuMs);
      at.client = process.cpuUsage();
      at.participant = cpuMs(participant.pid);
      return at;
    };
    let before;
    let after;
    const run = await runSagaLoad({
      clients,
      participant: participant.address,
      steps,
      concurrency,
      idPrefix: `bench-${id}`,
      warmup,
      warmupMaxSeconds: WARMUP_MAX_SECONDS,
      sagas,
      windowSeconds: cell.windowSeconds,
      windowStart: async () => {
        before = await snapshot(false);
      },
      windowEnd: async () => {
        after = await snapshot(true);
      },
      shouldAbort,
      onProgress: (phase, done, seconds) =>
        log(
          phase === "warmup" || phase === "starting window"
            ? `${cellName(cell)}: ${phase}, ${done}/${warmup} sagas`
            : `${cellName(cell)}: ${phase}, ${done}/${sagas} sagas in ${seconds.toFixed(0)} s, ${(done / seconds).toFixed(0)}/s`,
          true,
        ),
    });
    // A window cut short (errors, a stall) still reports what it measured, with the reason.
    if (run.windowStarted && !after) after = await snapshot(true).catch(() => null);
    if (!after) {
      const lines = [
        `${run.windowStarted ? "measured run" : "warm-up"} aborted: ${run.aborted}`,
        ...Object.entries({ ...run.warmup.errors, ...run.errors }).map(([m, n]) => `  ${n}× ${m}`),
        ...cluster.nodes.flatMap(problemLines).map((line) => `  coordinator: ${line}`),
      ];
      throw new Error(lines.join("\n"));
    }
    const peakRss = pids.map((pid) => vmMiB(pid, "VmHWM"));
    const completed = run.latencies.length;
    const cpuPerNode = after.cpu.map((ms, i) => ms - before.cpu[i]);
    const trips = roundTripDelta(before.trips, after.trips);
    const totalTrips = trips && Object.values(trips).reduce((a, b) => a + b, 0);
    const clientCpu = after.client.user + after.client.system - before.client.user - before.client.system;
    const perSaga = (x) => (completed > 0 ? x / completed : null);
    return {
      ...cell,
      completed,
      seconds: run.seconds,
      sagasPerSecond: completed / run.seconds,
      latencyMs: {
        p50: percentile(run.latencies, 50),
        p95: percentile(run.latencies, 95),
        p99: percentile(run.latencies, 99),
        max: run.latencies.at(-1) ?? null,
      },
      statuses: run.statuses,
      storeRoundTripsPerSaga: trips && perSaga(totalTrips),
      storeRoundTripsByOperation: trips,
      coordinatorCpuMsPerSaga: perSaga(cpuPerNode.reduce((a, b) => a + b, 0)),
      coordinatorIdleCpuMsPerSecond: idleCpuMsPerSecond,
      coordinatorCpuMsPerNode: cpuPerNode,
      coordinatorPeakRssMiB: peakRss,
      participantCpuMsPerSaga: perSaga(after.participant - before.participant),
      clientCpuMsPerSaga: perSaga(clientCpu / 1000),
      warmupRun: { finished: run.warmup.finished, errors: run.warmup.errors },
      errors: run.errors,
      errorCount: run.errorCount,
      aborted: run.aborted,
      // What the coordinators logged at warn or worse, when something went wrong.
      coordinatorProblems: run.errorCount > 0 || run.aborted ? cluster.nodes.map(problemLines) : undefined,
    };
  } finally {
    for (const c of clients) c.close();
    await cluster.stop();
    if (mode === "start") await dropDatabase(services.mongoUri, database);
  }
}

/** The node's last log lines at level warn (40) or worse, short, for a failed run's report. */
function problemLines(node) {
  const lines = [];
  for (const line of node.output().split("\n")) {
    try {
      const entry = JSON.parse(line);
      if (entry.level >= 40)
        lines.push(`${entry.node} ${entry.msg}${entry.err ? `: ${entry.err.message}` : ""}`);
    } catch {
      // Not a log line (e.g. the tail of a cut one).
    }
  }
  return lines.slice(-5);
}

async function dropDatabase(uri, name) {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5_000 });
  try {
    await client.db(name).dropDatabase();
  } catch {
    // Leftover bench databases are harmless; the next cell uses a new name.
  } finally {
    await client.close();
  }
}
