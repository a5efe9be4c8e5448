#!/usr/bin/env node
// Soak of the TypeScript client: N sagas in a row through SagaClient.start +
// waitFor, C in flight, against a dev-mode coordinator.
//
//   node scripts/client-soak.mjs [--sagas 100000] [--concurrency 100] [--steps 3]
//                                [--address host:port] [--timeout-ms 120000]
//
// Without --address it starts `saga-coordinator dev` and a no-op participant as
// child processes, so client, coordinator and participant RSS are measured
// apart. Prints progress every 5 s and the final count, errors, time and RSS;
// exits 1 if any saga failed or did not complete. Build first: `npm run build`.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { parseArgs } from "node:util";
import { SagaClient, SagaStatus, saga, startParticipant } from "@saga-coordinator/participant-sdk";
import { pino } from "pino";

const { values } = parseArgs({
  options: {
    sagas: { type: "string", default: "100000" },
    concurrency: { type: "string", default: "100" },
    steps: { type: "string", default: "3" },
    address: { type: "string" },
    "timeout-ms": { type: "string", default: "120000" },
    // Internal: this script re-runs itself as the no-op participant process.
    "serve-participant": { type: "string" },
  },
});
const stepCount = Number(values.steps);
const stepNames = Array.from({ length: stepCount }, (_, i) => `s${i}`);

if (values["serve-participant"] !== undefined) {
  const steps = Object.fromEntries(
    stepNames.map((name) => [name, { execute: async () => Buffer.from("ok"), compensate: async () => {} }]),
  );
  const participant = await startParticipant({
    listen: values["serve-participant"],
    steps,
    barrier: false,
    logger: pino({ level: "silent" }),
  });
  console.log(`participant ready ${participant.address}`);
  process.on("SIGTERM", () => participant.shutdown().then(() => process.exit(0)));
} else {
  await soak();
}

async function soak() {
  const total = Number(values.sagas);
  const concurrency = Number(values.concurrency);
  const timeoutMs = Number(values["timeout-ms"]);
  const root = path.resolve(import.meta.dirname, "..");
  const children = [];
  let address = values.address;
  if (!address) {
    address = `127.0.0.1:${await freePort()}`;
    children.push(
      await startChild(
        "coordinator",
        [path.join(root, "coordinator/dist/cli/main.js"), "dev", "--listen", address, "--log-level", "info"],
        (out) => out.includes("coordinator ready"),
      ),
    );
  }
  const participantAddress = `127.0.0.1:${await freePort()}`;
  children.push(
    await startChild(
      "participant",
      [import.meta.filename, "--serve-participant", participantAddress, "--steps", String(stepCount)],
      (out) => out.includes("participant ready"),
    ),
  );

  const client = new SagaClient({ address });
  let next = 0;
  let completed = 0;
  const errors = new Map();
  const noteError = (message) => errors.set(message, (errors.get(message) ?? 0) + 1);
  const started = performance.now();
  let peakClientRss = 0;
  const peaks = new Map(children.map((c) => [c.name, 0]));
  const sampleRss = () => {
    peakClientRss = Math.max(peakClientRss, process.memoryUsage().rss);
    for (const c of children) peaks.set(c.name, Math.max(peaks.get(c.name), rssOf(c.child.pid)));
  };
  const report = () => {
    sampleRss();
    const seconds = (performance.now() - started) / 1000;
    const servers = children.map((c) => `${c.name} ${mib(rssOf(c.child.pid))}`).join(", ");
    const errorCount = [...errors.values()].reduce((a, b) => a + b, 0);
    console.log(
      `[soak] ${completed + errorCount}/${total} sagas, ${errorCount} errors, ` +
        `${(completed / seconds).toFixed(0)}/s, RSS client ${mib(process.memoryUsage().rss)}, ${servers}`,
    );
  };
  const progress = setInterval(report, 5000);

  const worker = async () => {
    while (next < total) {
      const i = next++;
      try {
        let builder = saga("soak").id(`soak-${process.pid}-${i}`);
        for (const name of stepNames) builder = builder.step(name, participantAddress, { text: "x" });
        const { saga: created } = await client.start(builder);
        const done = await client.waitFor(created.sagaId, { timeoutMs });
        if (done.status === SagaStatus.SAGA_STATUS_COMPLETED) completed++;
        else noteError(`ended ${SagaStatus[done.status]}`);
      } catch (err) {
        noteError(err instanceof Error ? err.message : String(err));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  clearInterval(progress);
  report();
  const seconds = (performance.now() - started) / 1000;
  const errorCount = [...errors.values()].reduce((a, b) => a + b, 0);
  console.log(
    `[soak] done: ${completed}/${total} COMPLETED, ${errorCount} errors, ${seconds.toFixed(1)} s, ` +
      `${(completed / seconds).toFixed(0)} sagas/s (${stepCount} steps, C=${concurrency})`,
  );
  console.log(
    `[soak] peak RSS: client ${mib(peakClientRss)}, ` +
      children.map((c) => `${c.name} ${mib(Math.max(peaks.get(c.name), peakRssOf(c.child.pid)))}`).join(", "),
  );
  for (const [message, count] of errors) console.log(`[soak] error x${count}: ${message}`);
  client.close();
  for (const c of children.reverse()) await c.stop();
  process.exit(errorCount === 0 && completed === total ? 0 : 1);
}

/** Starts `node args` and waits until its output satisfies `ready`. */
function startChild(name, args, ready, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const onData = (chunk) => {
      output += chunk;
      if (output.length > 100_000) output = output.slice(-50_000);
      if (ready(output)) {
        child.stdout.off("data", onData);
        child.stdout.resume();
        resolve({ name, child, stop: () => stopChild(child) });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (chunk) => process.stderr.write(`[${name}] ${chunk}`));
    child.on("exit", (code) => reject(new Error(`${name} exited with ${code}:\n${output}`)));
  });
}

function stopChild(child) {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", resolve);
    child.kill("SIGTERM");
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Resident set (VmRSS) or its peak (VmHWM) of a process, in bytes; 0 when unknown. */
function procStatus(pid, field) {
  try {
    const match = readFileSync(`/proc/${pid}/status`, "utf8").match(new RegExp(`${field}:\\s+(\\d+) kB`));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}
function rssOf(pid) {
  return procStatus(pid, "VmRSS");
}
function peakRssOf(pid) {
  return procStatus(pid, "VmHWM");
}
function mib(bytes) {
  return `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
}
