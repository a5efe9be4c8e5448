import { existsSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { removeStaleLabs } from "./network-lab.js";
import { randomSeed } from "./prng.js";
import { type ChaosOptions, runChaos } from "./run-chaos.js";

// npm run chaos -- [--sagas N] [--faults N] [--seed S] [--replay DIR|SEED] ...
// Prints one line per invariant and "N passed, M failed"; exits 1 on a failure.

const USAGE = `Usage: npm run chaos -- [options]

  --sagas N              sagas to start while the faults play (default 200)
  --faults N             faults in the seeded schedule (default 12)
  --seed S               seed of the schedule and the saga mix (default: random, printed)
  --replay DIR|SEED      run again with the options of a run directory (or this seed)
  --partitions N         coordinator partitions (default 256)
  --lease-ttl S          etcd lease TTL of the coordinators, seconds (default 5)
  --drain-timeout-ms MS  coordinators' --drain-timeout-ms (default 10000)
  --concurrency N        StartSaga calls in flight (default 32)
  --finish-timeout-ms MS how long sagas may take to finish after the last fault (default 300000)
  --start-bound-ms MS    StartSaga must accept each saga within this (default 30000)
  --no-assert-recovery   report, do not assert, recovery after SIGKILL within lease TTL + 2 s
  --run-root DIR         where run directories go (default $TMPDIR/saga-chaos)

Needs root (network namespaces), etcd, PostgreSQL, FerretDB and Go
(scripts/install-test-deps.sh) and a build (npm run build).`;

const { values } = parseArgs({
  options: {
    sagas: { type: "string" },
    faults: { type: "string" },
    seed: { type: "string" },
    replay: { type: "string" },
    partitions: { type: "string" },
    "lease-ttl": { type: "string" },
    "drain-timeout-ms": { type: "string" },
    concurrency: { type: "string" },
    "finish-timeout-ms": { type: "string" },
    "start-bound-ms": { type: "string" },
    "no-assert-recovery": { type: "boolean" },
    "run-root": { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});

if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

function int(name: string, value: string | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name} must be an integer >= ${min}, got ${JSON.stringify(value)}\n\n${USAGE}`);
    process.exit(2);
  }
  return n;
}

function baseOptions(): ChaosOptions {
  return {
    sagas: 200,
    faults: 12,
    seed: randomSeed(),
    partitions: 256,
    leaseTtlSeconds: 5,
    drainTimeoutMs: 10_000,
    concurrency: 32,
    finishTimeoutMs: 300_000,
    assertRecovery: true,
    startBoundMs: 30_000,
    // Outside the repository: run directories hold JSON and logs that the linters must not see.
    runRoot: path.join(tmpdir(), "saga-chaos"),
  };
}

/** --replay DIR: that run's options (its seed, schedule size, settings); --replay SEED: defaults with that seed. */
function replayed(target: string): ChaosOptions {
  const file = path.join(target, "options.json");
  if (existsSync(target) && statSync(target).isDirectory()) {
    if (!existsSync(file)) {
      console.error(`--replay ${target}: no options.json there (is it a chaos run directory?)`);
      process.exit(2);
    }
    return { ...baseOptions(), ...(JSON.parse(readFileSync(file, "utf8")) as Partial<ChaosOptions>) };
  }
  return { ...baseOptions(), seed: int("replay", target, 0) };
}

const base = values.replay ? replayed(values.replay) : baseOptions();
const options: ChaosOptions = {
  ...base,
  sagas: int("sagas", values.sagas, base.sagas, 1),
  faults: int("faults", values.faults, base.faults),
  seed: int("seed", values.seed, base.seed),
  partitions: int("partitions", values.partitions, base.partitions, 1),
  leaseTtlSeconds: int("lease-ttl", values["lease-ttl"], base.leaseTtlSeconds, 1),
  drainTimeoutMs: int("drain-timeout-ms", values["drain-timeout-ms"], base.drainTimeoutMs),
  concurrency: int("concurrency", values.concurrency, base.concurrency, 1),
  finishTimeoutMs: int("finish-timeout-ms", values["finish-timeout-ms"], base.finishTimeoutMs),
  startBoundMs: int("start-bound-ms", values["start-bound-ms"], base.startBoundMs),
  assertRecovery: values["no-assert-recovery"] ? false : base.assertRecovery,
  runRoot: values["run-root"] ?? base.runRoot,
};

if (process.getuid?.() !== 0) {
  console.error("the chaos suite needs root: it creates network namespaces, veth pairs and a bridge");
  process.exit(2);
}
const stale = removeStaleLabs();
if (stale.length) console.log(`removed what crashed chaos runs left behind: ${stale.join(", ")}`);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  // Exit through process.exit so the lab's exit handlers kill its processes and delete its namespaces.
  process.once(signal, () => process.exit(130));
}

try {
  const outcome = await runChaos(options, (line) => console.log(line));
  process.exit(outcome.failed > 0 ? 1 : 0);
} catch (err) {
  console.error(
    `chaos run failed to run: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
  );
  process.exit(1);
}
