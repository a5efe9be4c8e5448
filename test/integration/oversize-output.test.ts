import { SagaStatus, StepStatus } from "@saga-coordinator/proto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type Harness, startHarness, step } from "../support/coordinator-harness.js";
import { type RecordingParticipant, startRecordingParticipant } from "../support/recording-participant.js";

// A participant returning more than the 1 MiB an output may hold (the proto's
// documented limit): the step took effect, but its output is never stored.
// The saga compensates it once instead of re-sending the step forever.

describe("an Execute output over the limit", () => {
  let h: Harness;
  let p: RecordingParticipant;
  beforeAll(async () => {
    p = await startRecordingParticipant({
      reserve: {},
      huge: { execute: async () => new Uint8Array(2 * 1024 * 1024 + 17) },
      justUnder: { execute: async () => new Uint8Array(1024 * 1024) },
    });
    h = await startHarness({ mongoUri: inject("mongoUri") });
  });
  afterAll(async () => {
    await h?.close();
    await p?.stop();
  });

  it("fails the step as applied and compensates it (and the steps before it) exactly once", async () => {
    const saga = await h.start({ steps: [step("reserve", p.address), step("huge", p.address)] });
    const done = await h.waitFor(saga.sagaId);
    expect(done.status).toBe(SagaStatus.SAGA_STATUS_COMPENSATED);
    const huge = done.steps.find((s) => s.definition?.name === "huge");
    expect(huge?.status).toBe(StepStatus.STEP_STATUS_COMPENSATED);
    expect(huge?.attempts).toBe(1);
    expect(huge?.output.length).toBe(0);
    expect(done.reason).toMatch(
      /^step huge took effect but its output cannot be stored: the participant's output is too large/,
    );
    expect(p.effects.get(`${saga.sagaId}/huge/execute`)).toBe(1);
    expect(p.effects.get(`${saga.sagaId}/huge/compensate`)).toBe(1);
    expect(p.effects.get(`${saga.sagaId}/reserve/compensate`)).toBe(1);
  });

  it("stores an output of exactly the limit", async () => {
    const saga = await h.start({ steps: [step("justUnder", p.address)] });
    const done = await h.waitFor(saga.sagaId);
    expect(done.status).toBe(SagaStatus.SAGA_STATUS_COMPLETED);
    expect(done.steps[0]?.output.length).toBe(1024 * 1024);
  });
});
