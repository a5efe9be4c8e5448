#!/usr/bin/env node
// The benchmark's participant, run as its own process: steps s0…s<N-1> that do
// nothing and answer at once, so a benchmark measures the coordinator, not
// the participant. `node scripts/bench/noop-participant.mjs [--steps N] [--listen HOST:PORT]`
// prints "noop participant listening on HOST:PORT" when ready.
import { parseArgs } from "node:util";
import { startParticipant } from "@saga-coordinator/participant-sdk";
import { pino } from "pino";

const { values } = parseArgs({
  options: {
    steps: { type: "string", default: "10" },
    listen: { type: "string", default: "127.0.0.1:0" },
  },
});

const OUTPUT = Buffer.from("ok");
const noop = { execute: async () => OUTPUT, compensate: async () => {} };
const steps = Object.fromEntries(Array.from({ length: Number(values.steps) }, (_, i) => [`s${i}`, noop]));

const participant = await startParticipant({
  listen: values.listen,
  steps,
  // A no-op is idempotent by itself; a barrier would only add work and memory.
  barrier: false,
  logger: pino({ level: "error" }),
  handleSignals: true,
  shutdownTimeoutMs: 2_000,
});
console.log(`noop participant listening on ${participant.address}`);
await participant.closed;
