import { BusinessFailure } from "@saga-coordinator/participant-sdk";
import { SagaStatus } from "@saga-coordinator/proto";
import { afterAll, describe, expect, it } from "vitest";
import { type Harness, startHarness, step } from "../support/coordinator-harness.js";
import { freePort } from "../support/free-port.js";
import { type RecordingParticipant, startRecordingParticipant } from "../support/recording-participant.js";

describe("Prometheus metrics", () => {
  let h: Harness;
  let p: RecordingParticipant;
  afterAll(async () => {
    await h?.close();
    await p?.stop();
  });

  it("counts started and finished sagas and participant calls", async () => {
    const port = await freePort();
    h = await startHarness({ extra: { "metrics-listen": `127.0.0.1:${port}` } });
    p = await startRecordingParticipant({
      ok: {},
      no: {
        execute: async () => {
          throw new BusinessFailure("no");
        },
      },
    });
    const good = await h.start({ sagaType: "metered", steps: [step("ok", p.address)] });
    const bad = await h.start({ sagaType: "metered", steps: [step("ok", p.address), step("no", p.address)] });
    expect((await h.waitFor(good.sagaId)).status).toBe(SagaStatus.SAGA_STATUS_COMPLETED);
    expect((await h.waitFor(bad.sagaId)).status).toBe(SagaStatus.SAGA_STATUS_COMPENSATED);
    const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(body).toContain('saga_started_total{saga_type="metered"} 2');
    expect(body).toContain('saga_finished_total{saga_type="metered",status="COMPLETED"} 1');
    expect(body).toContain('saga_finished_total{saga_type="metered",status="COMPENSATED"} 1');
    expect(body).toMatch(/saga_participant_call_seconds_count\{phase="execute",outcome="ok"\} 2/);
    expect(body).toMatch(/saga_participant_call_seconds_count\{phase="execute",outcome="business"\} 1/);
    expect(body).toMatch(/saga_participant_call_seconds_count\{phase="compensate",outcome="ok"\} 1/);
    expect(body).toContain("saga_failed_sagas 0");
  });

  it("gauges the sagas waiting for an operator", async () => {
    const port = await freePort();
    const node = await startHarness({ extra: { "metrics-listen": `127.0.0.1:${port}` } });
    const stuck = await startRecordingParticipant({
      charge: {
        compensate: async () => {
          throw new Error("refunds are down");
        },
      },
      no: {
        execute: async () => {
          throw new BusinessFailure("no");
        },
      },
    });
    try {
      const once = { maxAttempts: 1, multiplier: 0, jitter: 0 };
      const saga = await node.start({
        steps: [step("charge", stuck.address, { compensateRetry: once }), step("no", stuck.address)],
      });
      expect((await node.waitFor(saga.sagaId, SagaStatus.SAGA_STATUS_FAILED)).status).toBe(
        SagaStatus.SAGA_STATUS_FAILED,
      );
      const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(body).toContain("saga_failed_sagas 1");
      expect(body).toContain('saga_finished_total{saga_type="test",status="FAILED"} 1');
    } finally {
      await node.close();
      await stuck.stop();
    }
  });
});
