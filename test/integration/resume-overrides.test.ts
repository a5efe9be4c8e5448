import { status } from "@grpc/grpc-js";
import { BusinessFailure } from "@saga-coordinator/participant-sdk";
import { SagaStatus } from "@saga-coordinator/proto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { fastRetry, type Harness, startHarness, step } from "../support/coordinator-harness.js";
import { call, callError } from "../support/grpc-call.js";
import { type RecordingParticipant, startRecordingParticipant } from "../support/recording-participant.js";

// An operator resumes a FAILED saga with overrides for the stuck step: here
// its compensation kept failing on the old inventory service, and the resume
// sends it (with a new retry budget) to the new one.

describe("ResumeSaga with step overrides", () => {
  let h: Harness;
  let oldInventory: RecordingParticipant;
  let newInventory: RecordingParticipant;
  let payments: RecordingParticipant;

  beforeAll(async () => {
    oldInventory = await startRecordingParticipant({
      reserve: {
        compensate: async () => {
          throw new Error("release endpoint is gone");
        },
      },
    });
    newInventory = await startRecordingParticipant({ reserve: {} });
    payments = await startRecordingParticipant({
      pay: {
        execute: async () => {
          throw new BusinessFailure("card declined");
        },
      },
    });
    h = await startHarness({ mongoUri: inject("mongoUri") });
  });
  afterAll(async () => {
    await h?.close();
    for (const p of [oldInventory, newInventory, payments]) await p?.stop();
  });

  it("sends the stuck compensation to the new participant with a new budget, and records why", async () => {
    const saga = await h.start({
      steps: [
        step("reserve", oldInventory.address, { compensateRetry: fastRetry(2) }),
        step("pay", payments.address, { dependsOn: ["reserve"] }),
      ],
    });
    const failed = await h.waitFor(saga.sagaId, SagaStatus.SAGA_STATUS_FAILED);
    expect(failed.reason).toContain("compensation of reserve failed after 2 attempts");

    const resumed = await call(h.admin.resumeSaga, h.admin, {
      sagaId: saga.sagaId,
      reason: "inventory moved",
      overrides: [{ step: "reserve", participant: newInventory.address, compensateRetry: fastRetry(5) }],
    });
    expect(resumed.saga?.steps[0]?.definition?.participant).toBe(newInventory.address);
    const done = await h.waitFor(saga.sagaId);
    // The old participant fails every compensation: only the new one can have ended it.
    expect(done.status).toBe(SagaStatus.SAGA_STATUS_COMPENSATED);
    const history = (await call(h.client.getSaga, h.client, { sagaId: saga.sagaId, includeHistory: true }))
      .history;
    expect(history.map((e) => e.detail)).toContain(
      `overridden on resume: compensate_retry max_attempts 5, backoff 20..200ms; participant ${newInventory.address}`,
    );
  });

  it("refuses overrides that StartSaga would refuse, and unknown steps", async () => {
    const bad = [
      [
        { step: "", timeout: { seconds: 1, nanos: 0 } },
        status.INVALID_ARGUMENT,
        "overrides[0].step: is required",
      ],
      [
        { step: "a", timeout: { seconds: 7200, nanos: 0 } },
        status.INVALID_ARGUMENT,
        "overrides[0].timeout: 7200000ms is out of range; allowed 1ms..1h",
      ],
      [{ step: "a", participant: "127.0.0.1:0" }, status.INVALID_ARGUMENT, "port 0 is not in 1..65535"],
      [{ step: "a" }, status.INVALID_ARGUMENT, "overrides[0]: changes nothing"],
    ] as const;
    for (const [override, code, message] of bad) {
      const err = await callError(h.admin.resumeSaga, h.admin, {
        sagaId: "any",
        reason: "",
        overrides: [override],
      });
      expect(err.code, message).toBe(code);
      expect(err.details).toContain(message);
    }
  });
});
