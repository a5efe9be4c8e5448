#!/usr/bin/env node
// Throughput and latency of one coordinator node: `npm run bench -- [--sagas N]
// [--concurrency C] [--steps S] [--mongodb-uri URI]`. Starts a node in this
// process (memory store, or MongoDB when a URI is given), one no-op participant,
// runs N sagas of S steps with C in flight, and prints sagas/s, latency
// percentiles and memory. Build first: `npm run build`.
import { parseArgs } from "node:util";
import { SagaClient, saga, startParticipant } from "@saga-coordinator/participant-sdk";
import { pino } from "pino";
import { parseCoordinatorConfig } from "../coordinator/dist/config/coordinator-config.js";
import { startCoordinatorNode } from "../coordinator/dist/node/coordinator-node.js";

const { values } = parseArgs({
  options: {
    sagas: { type: "string", default: "2000" },
    concurrency: { type: "string", default: "100" },
    steps: { type: "string", default: "3" },
    "mongodb-uri": { type: "string" },
  },
});
const total = Number(values.sagas);
const concurrency = Number(values.concurrency);
const stepCount = Number(values.steps);
const uri = values["mongodb-uri"];

const logger = pino({ level: "silent" });
const node = await startCoordinatorNode(
  parseCoordinatorConfig({
    mode: uri ? "start" : "dev",
    listen: "127.0.0.1:0",
    "log-level": "silent",
    participant: [],
    "max-steps": 100,
    "max-payload-bytes": 1048576,
    "max-labels": 16,
    "poll-interval-ms": 200,
    "lost-call-grace-ms": 5000,
    partitions: 256,
    "mongodb-uri": uri,
    "mongodb-database": `bench_${Date.now()}`,
    "etcd-prefix": "/bench",
    "node-id": "bench",
    "lease-ttl-seconds": 5,
    "drain-timeout-ms": 5000,
    demo: false,
  }),
  logger,
);
const steps = Object.fromEntries(
  Array.from({ length: stepCount }, (_, i) => [
    `s${i}`,
    { execute: async () => Buffer.from("ok"), compensate: async () => {} },
  ]),
);
const participant = await startParticipant({ listen: "127.0.0.1:0", steps, logger });
const client = new SagaClient({ address: node.address });

const latencies = [];
let next = 0;
const started = performance.now();
async function worker() {
  while (next < total) {
    const i = next++;
    const t0 = performance.now();
    let builder = saga("bench").id(`bench-${i}-${Date.now()}`);
    for (let s = 0; s < stepCount; s++) builder = builder.step(`s${s}`, participant.address, { text: "x" });
    const { saga: created } = await client.start(builder);
    await client.waitFor(created.sagaId, { timeoutMs: 120_000 });
    latencies.push(performance.now() - t0);
  }
}
await Promise.all(Array.from({ length: concurrency }, worker));
const seconds = (performance.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p) =>
  latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))].toFixed(1);
const rss = (process.memoryUsage().rss / 1024 / 1024).toFixed(0);
console.log(
  `[bench] store=${uri ? "mongodb" : "memory"} sagas=${total} steps=${stepCount} concurrency=${concurrency}\n` +
    `[bench] throughput ${(total / seconds).toFixed(1)} sagas/s (${((total * stepCount) / seconds).toFixed(0)} steps/s) in ${seconds.toFixed(1)} s\n` +
    `[bench] start-to-finish latency ms: p50 ${pct(50)}  p90 ${pct(90)}  p99 ${pct(99)}  max ${latencies.at(-1).toFixed(1)}\n` +
    `[bench] process RSS ${rss} MiB (coordinator, participant and client in one process)`,
);
client.close();
await participant.shutdown();
await node.stop();
