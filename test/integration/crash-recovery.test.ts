import { randomUUID } from "node:crypto";
import { type Saga, SagaStatus } from "@saga-coordinator/proto";
import { afterAll, describe, expect, inject, it } from "vitest";
import { step } from "../support/coordinator-harness.js";
import { type CoordinatorProcess, startCoordinatorProcess } from "../support/coordinator-process.js";
import { freePort } from "../support/free-port.js";
import { call } from "../support/grpc-call.js";
import { type RecordingParticipant, startRecordingParticipant } from "../support/recording-participant.js";

// A coordinator process is SIGKILLed while 50 sagas are blocked mid-step; a
// new process must finish all of them with no effect applied twice.

const SAGAS = 50;
/**
 * Generous bounds, not expectations: on a loaded 2-core CI machine starting two coordinator
 * processes and 150 calls on FerretDB took close to the default 120 s test timeout.
 */
const BLOCKED_WITHIN_MS = 90_000;
const FINISHED_WITHIN_MS = 180_000;

describe("crash recovery", () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it("finishes every saga after SIGKILL of the coordinator, each effect once", {
    timeout: 360_000,
  }, async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let blocked = 0;
    const participant: RecordingParticipant = await startRecordingParticipant({
      reserve: {},
      charge: {
        execute: async () => {
          blocked++;
          await gate;
          return undefined;
        },
      },
      ship: {},
    });
    cleanup.push(() => participant.stop());

    const port = await freePort();
    const args = [
      "start",
      "--allow-direct-participant-addresses",
      "--listen",
      `127.0.0.1:${port}`,
      "--mongodb-uri",
      inject("mongoUri"),
      "--mongodb-database",
      `crash_${randomUUID().slice(0, 8)}`,
      "--poll-interval-ms",
      "100",
      "--lost-call-grace-ms",
      "1000",
    ];
    const first: CoordinatorProcess = await startCoordinatorProcess(args);
    cleanup.push(() => first.kill("SIGKILL"));
    const ids = Array.from({ length: SAGAS }, (_, i) => `crash-${i}-${randomUUID().slice(0, 6)}`);
    const timeout = { seconds: 60, nanos: 0 };
    for (const sagaId of ids) {
      await call(first.client.startSaga, first.client, {
        sagaId,
        sagaType: "crash-test",
        labels: {},
        steps: [
          step("reserve", participant.address),
          step("charge", participant.address, { timeout }),
          step("ship", participant.address),
        ],
      });
    }
    const until = Date.now() + BLOCKED_WITHIN_MS;
    while (blocked < SAGAS && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(blocked).toBe(SAGAS);

    await first.kill("SIGKILL");
    const second = await startCoordinatorProcess(args);
    cleanup.push(() => second.kill("SIGTERM"));
    release();

    const final: Saga[] = [];
    for (const sagaId of ids) {
      for (;;) {
        const { saga } = await call(second.client.getSaga, second.client, { sagaId, includeHistory: false });
        if (saga?.status === SagaStatus.SAGA_STATUS_COMPLETED) {
          final.push(saga);
          break;
        }
        if (Date.now() > until + FINISHED_WITHIN_MS)
          throw new Error(
            `saga ${sagaId} stuck: ${JSON.stringify(saga?.steps.map((s) => s.status))}\n${second.output()}`,
          );
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    expect(final).toHaveLength(SAGAS);
    for (const sagaId of ids) {
      for (const name of ["reserve", "charge", "ship"]) {
        expect(participant.effects.get(`${sagaId}/${name}/execute`), `${sagaId}/${name}`).toBe(1);
      }
    }
    // The new process re-sent the blocked calls with the same idempotency keys.
    expect(second.output()).toContain("coordinator ready");
  });
});
