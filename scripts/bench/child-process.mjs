// Child processes of the benchmark (coordinators, the no-op participant):
// output kept for error messages, killed if the benchmark exits first.
import { spawn } from "node:child_process";

const children = new Set();
process.once("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => process.exit(130));
}

/**
 * Spawns `node script args…` and resolves once its output matches `ready`
 * (a RegExp; the match is returned), or rejects with its output if it exits
 * or stays silent for `timeoutMs`.
 */
export async function startChild(name, script, args, ready, { env = {}, timeoutMs = 60_000 } = {}) {
  const child = spawn(process.execPath, [script, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  child.once("exit", () => children.delete(child));
  let output = "";
  const keep = (chunk) => {
    // Only the tail matters for error messages; a long run must not grow memory.
    output = (output + chunk).slice(-64 * 1024);
  };
  const match = await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name} not ready after ${timeoutMs} ms:\n${output}`)),
      timeoutMs,
    );
    const onData = (chunk) => {
      keep(chunk);
      const m = output.match(ready);
      if (m) {
        clearTimeout(timer);
        child.stdout.off("data", onData);
        child.stdout.on("data", keep);
        resolve(m);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", keep);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code ?? signal}) before it was ready:\n${output}`));
    });
  });
  return {
    name,
    pid: child.pid,
    match,
    output: () => output,
    alive: () => child.exitCode === null && child.signalCode === null,
    stop(signal = "SIGTERM", graceMs = 15_000) {
      return new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const kill = setTimeout(() => child.kill("SIGKILL"), graceMs);
        child.once("exit", () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill(signal);
      });
    },
  };
}
