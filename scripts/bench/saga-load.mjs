// Runs sagas through SagaClient.start + waitFor, as users do: `concurrency`
// loops, each starting one saga and waiting for its terminal status.
import { SagaStatus, saga } from "@saga-coordinator/participant-sdk";

/** The nearest-rank percentile of sorted values. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** A run gives up when no saga has finished for this long (a wedged store or node). */
const STALL_MS = 120_000;

/**
 * Runs `total` sagas of `steps` no-op steps on `participant`, spreading the
 * loops over `clients` (one per node). Returns latencies (submit→terminal,
 * ms, sorted), terminal statuses, errors and the wall time. Gives up early
 * (aborted: reason) when `shouldAbort()` says so, errors pile up, or no saga
 * finishes for STALL_MS; in-flight calls are then cancelled. Starts no new
 * saga after `maxSeconds`, so a slow setup still ends in bounded time.
 */
export async function runSagas({
  clients,
  participant,
  steps,
  concurrency,
  total,
  idPrefix,
  maxSeconds = Number.POSITIVE_INFINITY,
  maxErrors = Math.max(10, Math.floor(total * 0.05)),
  onProgress,
  shouldAbort,
}) {
  const latencies = [];
  const statuses = {};
  const errors = {};
  let errorCount = 0;
  let next = 0;
  let aborted = null;
  const stop = new AbortController();
  const abort = (reason) => {
    aborted ??= reason;
    stop.abort();
  };
  const started = performance.now();
  // After maxSeconds no new saga starts; those in flight finish.
  const startUntil = started + maxSeconds * 1000;
  let lastFinish = started;
  const worker = async (w) => {
    const client = clients[w % clients.length];
    while (next < total && !aborted && performance.now() < startUntil) {
      const i = next++;
      let builder = saga("bench").id(`${idPrefix}-${i}`);
      for (let s = 0; s < steps; s++) builder = builder.step(`s${s}`, participant, { text: "x" });
      const t0 = performance.now();
      try {
        const { saga: created } = await client.start(builder, { signal: stop.signal });
        const done = await client.waitFor(created.sagaId, { timeoutMs: 120_000, signal: stop.signal });
        latencies.push(performance.now() - t0);
        const name = SagaStatus[done.status] ?? String(done.status);
        statuses[name] = (statuses[name] ?? 0) + 1;
      } catch (err) {
        if (aborted) break;
        // Grouped without their numbers (deadline timings, ports), so alike errors count together.
        const message = String(err?.message ?? err)
          .split("\n")[0]
          .replace(/\d+(\.\d+)?/g, "#");
        errors[message] = (errors[message] ?? 0) + 1;
        if (++errorCount > maxErrors) abort(`more than ${maxErrors} errors`);
      }
      lastFinish = performance.now();
    }
  };
  const progress = setInterval(() => {
    const reason = shouldAbort?.();
    if (reason) abort(reason);
    if (performance.now() - lastFinish > STALL_MS) abort(`no saga finished for ${STALL_MS / 1000} s`);
    onProgress?.(latencies.length + errorCount, (performance.now() - started) / 1000);
  }, 1000);
  try {
    await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  } finally {
    clearInterval(progress);
  }
  latencies.sort((a, b) => a - b);
  return { latencies, statuses, errors, errorCount, aborted, seconds: (performance.now() - started) / 1000 };
}
