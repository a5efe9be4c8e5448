// Saga load as users make it: `concurrency` loops, each starting a saga with
// SagaClient.start and waiting for its terminal status with waitFor, then
// starting the next. The load runs without a break through a warm-up and the
// measured window, so the window sees a steady state (sagas in flight at both
// of its ends), not a ramp-up or a drain.
import { SagaStatus, saga } from "@saga-coordinator/participant-sdk";

/** A run gives up when no saga has finished for this long (a wedged store or node). */
const STALL_MS = 120_000;
/** How far a window may stretch past --cell-seconds to see a full round of its loops. */
const WINDOW_STRETCH = 6;

/** The nearest-rank percentile of sorted values. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/**
 * Runs sagas of `steps` no-op steps on `participant`, the loops spread over
 * `clients` (one per node). Warm-up: until `warmup` sagas have finished or
 * `warmupMaxSeconds` have passed. Then `windowStart()` (snapshots) and the
 * measured window (see windowDone); then `windowEnd()` and the loops stop
 * (calls in flight are cancelled). Returns the window's latencies (submit→terminal, ms, sorted),
 * terminal statuses, errors and length. Gives up (aborted: reason) when
 * `shouldAbort()` names a reason, the window sees more than `maxErrors`
 * errors, or no saga finishes for STALL_MS.
 */
export async function runSagaLoad(o) {
  const { clients, participant, steps, concurrency, idPrefix, onProgress, shouldAbort } = o;
  const maxErrors = o.maxErrors ?? Math.max(10, Math.floor(o.sagas * 0.05));
  const window = { latencies: [], statuses: {}, errors: {}, errorCount: 0, seconds: 0 };
  const warm = { finished: 0, errors: {}, errorCount: 0 };
  let phase = "warmup"; // → "starting window" → "window" → "ending window" → "done"
  let aborted = null;
  const stop = new AbortController();
  const finish = (reason) => {
    if (reason) aborted ??= reason;
    if (phase === "window") window.seconds = (performance.now() - windowBegan) / 1000;
    phase = "done";
    stop.abort();
  };
  const began = performance.now();
  let windowBegan = 0;
  let lastFinish = began;
  let next = 0;

  const countError = (into, err) => {
    // Grouped without their numbers and deadline timings, so alike errors count together.
    const message = String(err?.message ?? err)
      .split("\n")[0]
      .replace(/(Deadline exceeded).*$/, "$1")
      .replace(/\d+(\.\d+)?/g, "#");
    into.errors[message] = (into.errors[message] ?? 0) + 1;
    into.errorCount++;
  };

  // The window ends after `sagas` finished sagas, or after windowSeconds once at least `concurrency`
  // (capped by `sagas`) have finished in it, so a slow setup still gets figures over a full round of
  // its loops; at most after WINDOW_STRETCH × windowSeconds whatever happened.
  const windowDone = (finished, seconds) =>
    finished >= o.sagas ||
    (seconds >= o.windowSeconds && finished >= Math.min(o.sagas, concurrency)) ||
    seconds >= WINDOW_STRETCH * o.windowSeconds;
  const advance = () =>
    changePhase().catch((err) => finish(`reading the window's figures failed: ${err?.message ?? err}`));
  const changePhase = async () => {
    const now = performance.now();
    if (phase === "warmup" && (warm.finished >= o.warmup || now - began >= o.warmupMaxSeconds * 1000)) {
      phase = "starting window";
      await o.windowStart();
      if (phase !== "starting window") return;
      phase = "window";
      windowBegan = performance.now();
    } else if (phase === "window" && windowDone(window.latencies.length, (now - windowBegan) / 1000)) {
      phase = "ending window";
      window.seconds = (performance.now() - windowBegan) / 1000;
      await o.windowEnd();
      finish(null);
    }
  };

  const worker = async (w) => {
    const client = clients[w % clients.length];
    while (phase !== "done") {
      let builder = saga("bench").id(`${idPrefix}-${next++}`);
      for (let s = 0; s < steps; s++) builder = builder.step(`s${s}`, participant, { text: "x" });
      const t0 = performance.now();
      const startedIn = phase;
      try {
        const { saga: created } = await client.start(builder, { signal: stop.signal });
        const done = await client.waitFor(created.sagaId, { timeoutMs: 120_000, signal: stop.signal });
        lastFinish = performance.now();
        if (phase === "window") {
          window.latencies.push(lastFinish - t0);
          const name = SagaStatus[done.status] ?? String(done.status);
          window.statuses[name] = (window.statuses[name] ?? 0) + 1;
        } else if (phase === "warmup") {
          warm.finished++;
        }
      } catch (err) {
        if (phase === "done") break;
        lastFinish = performance.now();
        if (phase === "window" && startedIn === "window") {
          countError(window, err);
          if (window.errorCount > maxErrors) finish(`more than ${maxErrors} errors`);
        } else {
          countError(warm, err);
        }
      }
      await advance();
    }
  };

  const ticker = setInterval(() => {
    const reason = shouldAbort?.();
    if (reason) finish(reason);
    else if (performance.now() - lastFinish > STALL_MS) finish(`no saga finished for ${STALL_MS / 1000} s`);
    else advance();
    const seconds = (performance.now() - (windowBegan || began)) / 1000;
    const inWindow = phase !== "warmup" && phase !== "starting window";
    onProgress?.(phase, inWindow ? window.latencies.length : warm.finished, seconds);
  }, 1000);
  try {
    await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  } finally {
    clearInterval(ticker);
  }
  window.latencies.sort((a, b) => a - b);
  return { ...window, warmup: warm, aborted, windowStarted: windowBegan > 0 };
}
