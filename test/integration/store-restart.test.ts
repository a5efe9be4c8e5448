import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type Saga, SagaStatus } from "@saga-coordinator/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BackendName, type RunningService, startLocalMongo } from "../services/src/index.js";
import { step } from "../support/coordinator-harness.js";
import { type CoordinatorProcess, startCoordinatorProcess } from "../support/coordinator-process.js";
import { freePort } from "../support/free-port.js";
import { call } from "../support/grpc-call.js";
import { type RecordingParticipant, startRecordingParticipant } from "../support/recording-participant.js";

// The durable store goes away mid-run: a coordinator process on FerretDB +
// PostgreSQL drives 60 sagas; once 20 of them are inside their second step, the
// PostgreSQL server (in a second case: FerretDB) is SIGKILLed, those 20 calls
// return while it is down, and it comes back on the same port with its data.
// Every saga must complete, each effect applied exactly once.

const SAGAS = 60;
const IN_FLIGHT_AT_KILL = 20;
const STEPS = ["reserve", "charge", "ship"] as const;
const DOWN_MS = 2_000; // how long the store stays down (a fault's length, not an ordering device)
const FINISH_DEADLINE_MS = 120_000;
const RETRY_PAUSE_MS = 100; // between retries of a call the outage refused

describe("store restart (FerretDB on PostgreSQL)", () => {
  let store: RunningService;
  beforeAll(async () => {
    const started = await startLocalMongo({ kinds: ["ferretdb-postgresql"] });
    if (!started) {
      throw new Error("this test needs FerretDB and PostgreSQL installed: bash scripts/install-test-deps.sh");
    }
    store = started;
    console.log(`[store-restart] store of its own: ${store.description}`);
  });
  afterAll(() => store?.stop());

  for (const backend of ["postgresql", "ferretdb"] as const) {
    it(`finishes every saga, each effect once, when ${backend} is SIGKILLed mid-run and restarted`, async () => {
      await sagasSurviveRestartOf(store, backend);
    });
  }
});

async function sagasSurviveRestartOf(store: RunningService, backend: BackendName): Promise<void> {
  const part = store.parts[backend];
  if (!part) throw new Error(`${store.description} has no ${backend} process`);
  const cleanup: (() => Promise<void>)[] = [];
  try {
    // The first IN_FLIGHT_AT_KILL "charge" calls wait at a gate; the latch opens when all of them are waiting.
    let releaseGate = () => {};
    const gate = new Promise<void>((resolve) => {
      releaseGate = resolve;
    });
    let gated = 0;
    let gatedReturned = 0;
    let allGated = () => {};
    const allGatedWaiting = new Promise<void>((resolve) => {
      allGated = resolve;
    });
    const participant: RecordingParticipant = await startRecordingParticipant({
      reserve: {},
      charge: {
        execute: async () => {
          if (gated >= IN_FLIGHT_AT_KILL) return undefined;
          if (++gated === IN_FLIGHT_AT_KILL) allGated();
          await gate;
          gatedReturned++;
          return undefined;
        },
      },
      ship: {},
    });
    cleanup.push(() => participant.stop());

    const port = await freePort();
    // biome-ignore format: one flag and its value per line
    const coordinator: CoordinatorProcess = await startCoordinatorProcess([
      "start", "--allow-direct-participant-addresses", "--listen", `127.0.0.1:${port}`,
      "--mongodb-uri", store.url, "--mongodb-database", `restart_${backend}_${randomUUID().slice(0, 8)}`,
      "--poll-interval-ms", "100", "--lost-call-grace-ms", "1000",
    ]);
    cleanup.push(() => coordinator.kill("SIGKILL"));
    const failWith = (what: string) => {
      // The whole output goes to a file: the tail alone rarely shows where the store stalled.
      const logFile = join(tmpdir(), `store-restart-${backend}-${randomUUID().slice(0, 8)}.log`);
      writeFileSync(logFile, coordinator.output());
      return new Error(
        `${what}\n--- coordinator output (tail; all of it in ${logFile}) ---\n${coordinator.output().slice(-6_000)}`,
      );
    };

    const ids = Array.from(
      { length: SAGAS },
      (_, i) => `restart-${backend}-${i}-${randomUUID().slice(0, 6)}`,
    );
    const deadline = Date.now() + FINISH_DEADLINE_MS;
    // Sagas keep being submitted through the outage; a refused StartSaga is retried with the same saga_id.
    const submitting = (async () => {
      for (const sagaId of ids) {
        const req = {
          sagaId,
          sagaType: "store-restart",
          labels: {},
          steps: STEPS.map((name) => step(name, participant.address)),
        };
        await retryUntil(deadline, `StartSaga ${sagaId}`, () =>
          call(coordinator.client.startSaga, coordinator.client, req, 5_000),
        );
      }
    })();

    const first = await Promise.race([
      allGatedWaiting.then(() => "gated" as const),
      submitting.then(() => "submitted" as const),
    ]);
    if (first === "submitted" && gated < IN_FLIGHT_AT_KILL) {
      throw failWith(`all sagas were submitted but only ${gated} charge calls reached the participant`);
    }
    await part.kill();
    releaseGate(); // the gated calls now return to a coordinator whose store is down
    await waitFor(deadline, () => gatedReturned === IN_FLIGHT_AT_KILL, "the gated charge calls to return");
    await part.restart({ downMs: DOWN_MS });
    await submitting.catch((error: unknown) => {
      throw failWith(`submitting sagas failed: ${String(error)}`);
    });

    const final = new Map<string, Saga>();
    for (const sagaId of ids) {
      for (;;) {
        const res = await call(
          coordinator.client.getSaga,
          coordinator.client,
          { sagaId, includeHistory: false },
          5_000,
        )
          .then((r) => r.saga)
          .catch(() => undefined); // the store may still be recovering: ask again
        if (res && isTerminal(res.status)) {
          final.set(sagaId, res);
          break;
        }
        if (Date.now() > deadline) {
          throw failWith(`saga ${sagaId} not terminal: ${res ? SagaStatus[res.status] : "GetSaga failing"}`);
        }
        await sleep(RETRY_PAUSE_MS);
      }
    }

    const notCompleted = [...final.values()].filter((s) => s.status !== SagaStatus.SAGA_STATUS_COMPLETED);
    expect(notCompleted.map((s) => `${s.sagaId}: ${SagaStatus[s.status]}`)).toEqual([]);
    const wrongCounts: string[] = [];
    for (const sagaId of ids) {
      for (const name of STEPS) {
        const executed = participant.effects.get(`${sagaId}/${name}/execute`) ?? 0;
        const compensated = participant.effects.get(`${sagaId}/${name}/compensate`) ?? 0;
        if (executed !== 1 || compensated !== 0) {
          wrongCounts.push(`${sagaId}/${name}: executed ${executed}, compensated ${compensated}`);
        }
      }
    }
    expect(wrongCounts).toEqual([]);
  } finally {
    for (const c of cleanup.reverse()) await c();
    // A failed case must not leave the shared store down for the next one.
    if (!part.running) await part.start();
  }
}

function isTerminal(status: SagaStatus): boolean {
  return (
    status === SagaStatus.SAGA_STATUS_COMPLETED ||
    status === SagaStatus.SAGA_STATUS_COMPENSATED ||
    status === SagaStatus.SAGA_STATUS_FAILED
  );
}

/** Calls `attempt` until it succeeds; after `deadline` the last error is thrown. */
async function retryUntil<T>(deadline: number, what: string, attempt: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${what}: still failing at the deadline: ${String(error)}`);
      await sleep(RETRY_PAUSE_MS);
    }
  }
}

/** Waits until `condition()` holds; fails at `deadline`. */
async function waitFor(deadline: number, condition: () => boolean, what: string): Promise<void> {
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
