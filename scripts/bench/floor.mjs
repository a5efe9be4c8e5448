// The floor: what the transport and the store can do at all at a given
// concurrency, measured the way the coordinator uses them. Saga throughput is
// read against these.
import { randomUUID } from "node:crypto";
import { credentials, Metadata } from "@grpc/grpc-js";
import { ParticipantServiceClient } from "@saga-coordinator/proto";
import { MongoClient } from "mongodb";

/**
 * Runs `op(worker)` in `concurrency` loops: `warmupMs` unmeasured, then
 * `durationMs` measured. Returns operations/s over the measured window.
 */
async function runFor({ concurrency, warmupMs, durationMs, onProgress }, op) {
  let phase = "warmup";
  let done = 0;
  let errors = 0;
  let firstError = null;
  let windowStart = 0;
  let windowEnd = 0;
  const worker = async (w) => {
    while (phase !== "stop") {
      try {
        await op(w);
        if (phase === "measure") done++;
      } catch (err) {
        errors++;
        firstError ??= String(err?.message ?? err).split("\n")[0];
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  };
  const timers = [
    setTimeout(() => {
      phase = "measure";
      windowStart = performance.now();
    }, warmupMs),
    setTimeout(() => {
      phase = "stop";
      windowEnd = performance.now();
    }, warmupMs + durationMs),
  ];
  const progress = setInterval(() => onProgress?.(phase, done), 1000);
  try {
    // Operations still in flight when the window closes get 30 s, so a wedged server ends the floor, not the run.
    let giveUp;
    const stalled = new Promise((_, reject) => {
      giveUp = setTimeout(
        () => reject(new Error("operations did not return within 30 s of the window's end")),
        warmupMs + durationMs + 30_000,
      );
    });
    await Promise.race([Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w))), stalled]);
    clearTimeout(giveUp);
  } finally {
    timers.forEach(clearTimeout);
    clearInterval(progress);
  }
  const seconds = (windowEnd - windowStart) / 1000;
  return { perSecond: done / seconds, operations: done, seconds, errors, firstError };
}

/** No-op unary calls/s (ParticipantService.Execute of a no-op step) from this process to `address`. */
export async function grpcFloor({ address, ...run }) {
  // One channel, like a coordinator's one channel per participant address.
  const client = new ParticipantServiceClient(address, credentials.createInsecure());
  const payload = Buffer.from('{"text":"x"}');
  const execute = (request) =>
    new Promise((resolve, reject) =>
      client.execute(request, new Metadata(), { deadline: Date.now() + 10_000 }, (err, res) =>
        err ? reject(err) : resolve(res),
      ),
    );
  let n = 0;
  try {
    const r = await runFor(run, () => {
      const sagaId = `floor-${n++}`;
      return execute({
        sagaId,
        sagaType: "floor",
        step: "s0",
        idempotencyKey: `${sagaId}/s0/execute`,
        attempt: 1,
        payload,
        contentType: "application/json",
        dependencyOutputs: {},
      });
    });
    return { callsPerSecond: r.perSecond, ...r };
  } finally {
    client.close();
  }
}

/**
 * Conditional single-document updates/s on the store: each worker owns one
 * document and loops read + updateOne({_id, version}) with the version it
 * read, as the coordinator's optimistic writes do. Two round trips per update.
 */
export async function storeFloor({ uri, ...run }) {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 10_000 });
  await client.connect();
  const db = client.db(`bench_floor_${randomUUID().slice(0, 8)}`);
  const docs = db.collection("floor");
  let conflicts = 0;
  try {
    await docs.insertMany(
      Array.from({ length: run.concurrency }, (_, w) => ({ _id: w, version: 0, body: "x".repeat(512) })),
    );
    const r = await runFor(run, async (w) => {
      const doc = await docs.findOne({ _id: w });
      const res = await docs.updateOne(
        { _id: w, version: doc.version },
        { $set: { version: doc.version + 1, updatedAt: new Date() } },
      );
      if (res.matchedCount !== 1) conflicts++;
    });
    return { updatesPerSecond: r.perSecond, roundTripsPerSecond: r.perSecond * 2, conflicts, ...r };
  } finally {
    await db.dropDatabase().catch(() => {});
    await client.close();
  }
}
