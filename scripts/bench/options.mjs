// Command-line flags of `npm run bench` and the matrix of cells they select.
import path from "node:path";
import { parseArgs } from "node:util";

export const USAGE = `npm run bench -- [flags]   (build first: npm run build)

  --modes dev,start        coordinator modes (dev = memory store; start = MongoDB-wire store)
  --nodes 1,3              node counts for start (dev is always 1 node; 3 nodes need etcd)
  --steps 3,10             steps per saga
  --concurrency 50,200     sagas in flight
  --sagas N                the measured window ends after N finished sagas (default: dev 3000, start 1500)
  --cell-seconds S         ...or after S seconds once C sagas have (at most 6 × S) (default 10)
  --warmup N               sagas finished before the window opens, per cell (default: the concurrency; 30 s at most)
  --floor-seconds S        measured seconds of each floor (default 3; 0 skips the floors)
  --partitions N           coordinators' --partitions (default: theirs)
  --json PATH              result file (default bench-results/bench-<time>.json)

Store and etcd: MONGODB_URI / ETCD_ENDPOINTS if set, else started here with
@saga-coordinator/test-services: FerretDB on PostgreSQL (mongo-java-server only
if that is not installed; SAGA_TEST_MONGO=<kind> picks another) and etcd.`;

const list = (s) =>
  s
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);

function positiveInts(flag, s) {
  return list(s).map((x) => {
    const n = Number(x);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag}: "${x}" is not a positive integer`);
    return n;
  });
}

export function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      modes: { type: "string", default: "dev,start" },
      nodes: { type: "string", default: "1,3" },
      steps: { type: "string", default: "3,10" },
      concurrency: { type: "string", default: "50,200" },
      sagas: { type: "string" },
      warmup: { type: "string" },
      "cell-seconds": { type: "string", default: "10" },
      "floor-seconds": { type: "string", default: "3" },
      json: { type: "string" },
      partitions: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return { help: true };
  const modes = list(values.modes);
  for (const m of modes)
    if (m !== "dev" && m !== "start") throw new Error(`--modes: "${m}" is not dev or start`);
  const nodes = positiveInts("nodes", values.nodes);
  const steps = positiveInts("steps", values.steps);
  const concurrency = positiveInts("concurrency", values.concurrency);
  const sagas = values.sagas === undefined ? null : positiveInts("sagas", values.sagas)[0];
  const warmup = values.warmup === undefined ? null : Number(values.warmup);
  if (warmup !== null && !(Number.isInteger(warmup) && warmup >= 0))
    throw new Error(`--warmup: "${values.warmup}" is not a whole number`);
  const windowSeconds = Number(values["cell-seconds"]);
  if (!(windowSeconds > 0))
    throw new Error(`--cell-seconds: "${values["cell-seconds"]}" is not a number > 0`);
  const floorSeconds = Number(values["floor-seconds"]);
  if (!(floorSeconds >= 0))
    throw new Error(`--floor-seconds: "${values["floor-seconds"]}" is not a number >= 0`);

  const coordinatorArgs = values.partitions
    ? ["--partitions", String(positiveInts("partitions", values.partitions)[0])]
    : [];
  const cells = [];
  for (const mode of modes) {
    const nodeCounts = mode === "dev" ? [1] : nodes;
    for (const n of nodeCounts)
      for (const s of steps)
        for (const c of concurrency)
          cells.push({
            mode,
            nodes: n,
            steps: s,
            concurrency: c,
            sagas: sagas ?? (mode === "dev" ? 3000 : 1500),
            windowSeconds,
            coordinatorArgs,
            warmup: warmup ?? c,
          });
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const json = path.resolve(
    values.json ?? path.join(import.meta.dirname, "../../bench-results", `bench-${stamp}.json`),
  );
  return { cells, concurrency, steps, floorSeconds, json, maxSteps: Math.max(...steps) };
}
