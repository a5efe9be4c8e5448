// One cell of the matrix: fresh coordinator process(es), a warm-up, then a
// measured window of sagas with CPU, memory and store round trips read
// around it.
import { randomUUID } from "node:crypto";
import { SagaClient } from "@saga-coordinator/participant-sdk";
import { MongoClient } from "mongodb";
import { startCoordinators } from "./coordinators.mjs";
import { cpuMs, vmMiB } from "./proc-stats.mjs";
import { percentile, runSagas } from "./saga-load.mjs";
import { readStoreRoundTrips, roundTripDelta } from "./store-round-trips.mjs";

const IDLE_SAMPLE_MS = 2_000;

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
  // What the nodes burn with no saga at all (timers, etcd leases, partition polls), for reading CPU per saga.
  const idleBefore = cluster.nodes.map((n) => cpuMs(n.pid));
  await new Promise((r) => setTimeout(r, IDLE_SAMPLE_MS));
  const idleCpuMsPerSecond =
    (cluster.nodes.reduce((sum, n, i) => sum + cpuMs(n.pid) - idleBefore[i], 0) * 1000) / IDLE_SAMPLE_MS;
  const base = { clients, participant: participant.address, steps, concurrency, shouldAbort };
  let warmupErrors = 0;
  try {
    if (warmup > 0) {
      const warm = await runSagas({
        ...base,
        total: warmup,
        maxSeconds: Math.min(5, cell.maxSeconds),
        // Errors while warming up show in the measured run too; only a stall or a crash ends the cell here.
        maxErrors: Number.POSITIVE_INFINITY,
        idPrefix: `warm-${id}`,
        onProgress: (done) => log(`${cellName(cell)}: warm-up ${done}/${warmup}`, true),
      });
      warmupErrors = warm.errorCount;
      if (warm.aborted) {
        const lines = [
          `warm-up aborted: ${warm.aborted}`,
          ...Object.entries(warm.errors).map(([message, n]) => `  ${n}× ${message}`),
          ...cluster.nodes.flatMap(problemLines).map((line) => `  coordinator: ${line}`),
        ];
        throw new Error(lines.join("\n"));
      }
    }
    const pids = cluster.nodes.map((n) => n.pid);
    const cpuBefore = pids.map(cpuMs);
    const tripsBefore = await Promise.all(cluster.nodes.map((n) => readStoreRoundTrips(n.metricsAddress)));
    const clientCpuBefore = process.cpuUsage();
    const participantCpuBefore = cpuMs(participant.pid);
    const run = await runSagas({
      ...base,
      total: sagas,
      maxSeconds: cell.maxSeconds,
      idPrefix: `bench-${id}`,
      onProgress: (done, seconds) =>
        log(`${cellName(cell)}: ${done}/${sagas} sagas, ${(done / seconds).toFixed(0)}/s`, true),
    });
    const cpuAfter = pids.map(cpuMs);
    const tripsAfter = await Promise.all(cluster.nodes.map((n) => readStoreRoundTrips(n.metricsAddress)));
    const clientCpu = process.cpuUsage(clientCpuBefore);
    const participantCpu = cpuMs(participant.pid) - participantCpuBefore;
    const peakRss = pids.map((pid) => vmMiB(pid, "VmHWM"));

    const completed = run.latencies.length;
    const coordinatorCpuMs = cpuAfter.reduce((sum, after, i) => sum + after - cpuBefore[i], 0);
    const trips = roundTripDelta(tripsBefore, tripsAfter);
    const totalTrips = trips && Object.values(trips).reduce((a, b) => a + b, 0);
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
      coordinatorCpuMsPerSaga: perSaga(coordinatorCpuMs),
      coordinatorIdleCpuMsPerSecond: idleCpuMsPerSecond,
      coordinatorCpuMsPerNode: cpuAfter.map((after, i) => after - cpuBefore[i]),
      coordinatorPeakRssMiB: peakRss,
      participantCpuMsPerSaga: perSaga(participantCpu),
      clientCpuMsPerSaga: perSaga((clientCpu.user + clientCpu.system) / 1000),
      errors: run.errors,
      errorCount: run.errorCount,
      warmupErrors,
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
