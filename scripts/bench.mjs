#!/usr/bin/env node
// `npm run bench`: the coordinator's benchmark (not a timed test). In one run:
// the floor of the transport and the store, then sagas/s, latency, store round
// trips, CPU and memory per saga for every cell of the matrix (mode × nodes ×
// steps × concurrency). Coordinators and the no-op participant run as child
// processes; the client (SagaClient start + waitFor) runs here. Writes a JSON
// result file and prints a one-screen table. `npm run bench -- --help`.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { cellName, runCell } from "./bench/cell.mjs";
import { startChild } from "./bench/child-process.mjs";
import { grpcFloor, storeFloor } from "./bench/floor.mjs";
import { parseOptions, USAGE } from "./bench/options.mjs";
import { formatReport } from "./bench/report.mjs";
import { provideServices } from "./bench/services.mjs";
import { checkTargets } from "./bench/targets.mjs";

let options;
try {
  options = parseOptions(process.argv.slice(2));
} catch (err) {
  console.error(`bench: ${err.message}\n\n${USAGE}`);
  process.exit(2);
}
if (options.help) {
  console.log(USAGE);
  process.exit(0);
}

// Progress goes to stderr: on a terminal one line is rewritten in place,
// otherwise progress lines are printed at most every 5 s.
let lastTransient = 0;
function log(message, transient = false) {
  if (process.stderr.isTTY) {
    process.stderr.write(`\r\x1b[2K[bench] ${message}${transient ? "" : "\n"}`);
    return;
  }
  if (transient) {
    if (Date.now() - lastTransient < 5_000) return;
    lastTransient = Date.now();
  }
  process.stderr.write(`[bench] ${message}\n`);
}

const { cells } = options;
const withStore = cells.some((c) => c.mode === "start");
const services = await provideServices({
  needStore: withStore,
  needEtcd: cells.some((c) => c.nodes > 1),
  log,
});
if (services.store) log(`store: ${services.store}`);
if (services.etcdServer) log(`etcd: ${services.etcdServer}`);

const participantProc = await startChild(
  "noop participant",
  path.join(import.meta.dirname, "bench/noop-participant.mjs"),
  ["--steps", String(options.maxSteps)],
  /noop participant listening on (\S+)/,
);
const participant = participantProc.match[1];
log(`no-op participant (pid ${participantProc.pid}) at ${participant}`);

const result = {
  startedAt: new Date().toISOString(),
  machine: machine(),
  services: { store: services.store, etcdServer: services.etcdServer },
  options: { ...options, cells: undefined },
  floors: { grpc: {}, store: withStore ? {} : undefined },
  cells: [],
};

try {
  if (options.floorSeconds > 0) {
    for (const concurrency of options.concurrency) {
      const run = { concurrency, warmupMs: 1_000, durationMs: options.floorSeconds * 1_000 };
      log(`floor: no-op gRPC calls at C=${concurrency}`);
      result.floors.grpc[concurrency] = await measureFloor(() =>
        grpcFloor({
          address: participant,
          ...run,
          onProgress: (phase, n) => log(`floor: gRPC C=${concurrency} ${phase} ${n} calls`, true),
        }),
      );
      log(`floor: gRPC C=${concurrency}: ${fixed0(result.floors.grpc[concurrency].callsPerSecond)} calls/s`);
      if (withStore) {
        log(`floor: store read + conditional update at C=${concurrency}`);
        result.floors.store[concurrency] = await measureFloor(() =>
          storeFloor({
            uri: services.mongoUri,
            ...run,
            onProgress: (phase, n) => log(`floor: store C=${concurrency} ${phase} ${n} updates`, true),
          }),
        );
        log(
          `floor: store C=${concurrency}: ${fixed0(result.floors.store[concurrency].updatesPerSecond)} updates/s`,
        );
      }
      save();
    }
  }

  for (const [i, cell] of cells.entries()) {
    log(`cell ${i + 1}/${cells.length}: ${cellName(cell)}, ${cell.sagas} sagas after ${cell.warmup} warm-up`);
    let r;
    try {
      r = await runCell(cell, {
        participant: { address: participant, pid: participantProc.pid },
        services,
        log,
      });
      const grpc = result.floors.grpc[cell.concurrency]?.callsPerSecond;
      const store = result.floors.store?.[cell.concurrency]?.updatesPerSecond;
      r.ratioToGrpcFloor = grpc ? r.sagasPerSecond / grpc : null;
      r.ratioToStoreFloor = cell.mode === "start" && store ? r.sagasPerSecond / store : null;
      log(
        `${cellName(cell)}: ${r.sagasPerSecond.toFixed(1)} sagas/s, p99 ${r.latencyMs.p99?.toFixed(0)} ms, ` +
          `${r.coordinatorCpuMsPerSaga?.toFixed(2)} CPU ms/saga, ${r.errorCount} errors`,
      );
      for (const [message, n] of Object.entries(r.errors)) log(`  ${n}× ${message}`);
      if (r.aborted) log(`  aborted: ${r.aborted}`);
      for (const line of r.coordinatorProblems?.flat() ?? []) log(`  coordinator: ${line}`);
    } catch (err) {
      r = { ...cell, failed: String(err?.stack ?? err) };
      log(`${cellName(cell)}: FAILED ${err?.message ?? err}`);
    }
    result.cells.push(r);
    save();
  }
} finally {
  await participantProc.stop();
  await services.stop();
}

result.finishedAt = new Date().toISOString();
result.loadAverageAtEnd = os.loadavg();
save();
console.log(`\n${formatReport(result)}\n\nresult: ${options.json}`);

/** Writes the result so far (after every floor and cell, so an interrupted run keeps what it measured). */
function save() {
  result.targets = checkTargets(result.cells);
  mkdirSync(path.dirname(options.json), { recursive: true });
  writeFileSync(options.json, `${JSON.stringify(result, null, 2)}\n`);
}

/** A floor's figures, or { failed } when it could not be measured (the cells still run). */
async function measureFloor(measure) {
  try {
    return await measure();
  } catch (err) {
    log(`floor FAILED: ${err?.message ?? err}`);
    return { failed: String(err?.message ?? err) };
  }
}

function fixed0(x) {
  return x === undefined ? "n/a" : x.toFixed(0);
}

function machine() {
  let commit = "unknown";
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], {
      cwd: import.meta.dirname,
      encoding: "utf8",
    }).trim();
  } catch {}
  return {
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? "unknown",
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    loadAverageAtStart: os.loadavg(),
    commit,
  };
}
