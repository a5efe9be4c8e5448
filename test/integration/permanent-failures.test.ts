import { Metadata, Server, ServerCredentials, status } from "@grpc/grpc-js";
import { BusinessFailure } from "@saga-coordinator/participant-sdk";
import {
  type ParticipantServiceServer,
  ParticipantServiceService,
  SagaEventType,
  SagaStatus,
  StepKind,
  StepStatus,
} from "@saga-coordinator/proto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { fastRetry, type Harness, startHarness, step } from "../support/coordinator-harness.js";
import { call } from "../support/grpc-call.js";
import { type RecordingParticipant, startRecordingParticipant } from "../support/recording-participant.js";

// A participant answering a status no retry can change (here UNIMPLEMENTED: a
// gRPC server at the participant's address that does not serve
// saga.v1.ParticipantService, as after a misconfigured deployment) is not
// retried: a RETRIABLE step parks the saga FAILED for an operator, and
// AdminService.ResumeSaga finishes it once the participant is fixed; a
// COMPENSATABLE step compensates at once; a refused Compensate parks the saga
// FAILED at once.

/** A gRPC server with no services: every call gets grpc-js's own UNIMPLEMENTED. */
function startWrongServer(): Promise<{ address: string; stop(): Promise<void> }> {
  return serve(new Server());
}

/**
 * A participant whose Compensate is refused with PERMISSION_DENIED (its ACL does not let the
 * coordinator undo) until `grant()`; Execute always succeeds. Counts the Compensates it accepted.
 */
async function startDenyingParticipant() {
  let granted = false;
  let compensated = 0;
  const impl: ParticipantServiceServer = {
    execute: (_call, cb) => cb(null, { output: Buffer.from("charge-1") }),
    compensate: (_call, cb) => {
      if (!granted) {
        return cb({
          code: status.PERMISSION_DENIED,
          details: "coordinator may not refund",
          metadata: new Metadata(),
        });
      }
      compensated++;
      cb(null, {});
    },
  };
  const server = new Server();
  server.addService(ParticipantServiceService, impl);
  const served = await serve(server);
  return {
    ...served,
    grant: () => {
      granted = true;
    },
    compensated: () => compensated,
  };
}

async function serve(server: Server): Promise<{ address: string; stop(): Promise<void> }> {
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    address: `127.0.0.1:${port}`,
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

describe("participant statuses that no retry can change", () => {
  let h: Harness;
  const participants: RecordingParticipant[] = [];

  beforeAll(async () => {
    h = await startHarness({ mongoUri: inject("mongoUri") });
  });
  afterAll(async () => {
    await h.close();
    for (const p of participants) await p.stop();
  });

  it("UNIMPLEMENTED on a RETRIABLE step: FAILED with a reason, then ResumeSaga completes it once fixed", async () => {
    const payments = await startRecordingParticipant({ charge: {} });
    participants.push(payments);
    const wrong = await startWrongServer();
    const saga = await h.start({
      steps: [
        step("charge", payments.address, { kind: StepKind.STEP_KIND_PIVOT }),
        step("ship", wrong.address, { kind: StepKind.STEP_KIND_RETRIABLE, retry: fastRetry(3) }),
      ],
    });

    const failed = await h.waitFor(saga.sagaId, SagaStatus.SAGA_STATUS_FAILED);
    const ship = failed.steps[1];
    expect(ship?.status).toBe(StepStatus.STEP_STATUS_FAILED);
    expect(ship?.attempts).toBe(1); // not retried
    expect(ship?.lastError).toMatch(/^UNIMPLEMENTED: /);
    expect(failed.reason).toContain(`participant ${wrong.address} answered UNIMPLEMENTED`);
    expect(failed.reason).toContain("to Execute of step ship (attempt 1)");
    expect(failed.reason).toContain("resume the saga with AdminService.ResumeSaga");
    const { history } = await call(h.client.getSaga, h.client, { sagaId: saga.sagaId, includeHistory: true });
    const shipEvents = history.filter((e) => e.step === "ship").map((e) => SagaEventType[e.type]);
    expect(shipEvents).toEqual(["SAGA_EVENT_TYPE_STEP_DISPATCHED", "SAGA_EVENT_TYPE_STEP_FAILED"]);

    // The operator deploys the real participant at that address, then resumes.
    await wrong.stop();
    const shipping = await startRecordingParticipant({ ship: {} }, wrong.address);
    participants.push(shipping);
    const resumed = await call(h.admin.resumeSaga, h.admin, {
      sagaId: saga.sagaId,
      reason: "shipping deployed",
      overrides: [],
    });
    expect(resumed.saga?.status).toBe(SagaStatus.SAGA_STATUS_RUNNING);
    const done = await h.waitFor(saga.sagaId);
    expect(done.status).toBe(SagaStatus.SAGA_STATUS_COMPLETED);
    expect(done.steps[1]?.attempts).toBe(2);
    expect(shipping.effects.get(`${saga.sagaId}/ship/execute`)).toBe(1);
    expect(payments.effects.get(`${saga.sagaId}/charge/compensate`)).toBeUndefined();
  });

  it("UNIMPLEMENTED on a COMPENSATABLE step: compensates at once instead of using up its retries", async () => {
    const inventory = await startRecordingParticipant({ reserve: {} });
    participants.push(inventory);
    const wrong = await startWrongServer();
    try {
      const saga = await h.start({
        steps: [step("reserve", inventory.address), step("charge", wrong.address, { retry: fastRetry(50) })],
      });
      const done = await h.waitFor(saga.sagaId);
      expect(done.status).toBe(SagaStatus.SAGA_STATUS_COMPENSATED);
      expect(done.steps[1]?.attempts).toBe(1);
      expect(done.steps[1]?.status).toBe(StepStatus.STEP_STATUS_FAILED);
      expect(done.steps[1]?.outcomeUnknown).toBe(false);
      expect(done.reason).toContain(
        `step charge failed: participant ${wrong.address} answered UNIMPLEMENTED`,
      );
      expect(inventory.effects.get(`${saga.sagaId}/reserve/compensate`)).toBe(1);
    } finally {
      await wrong.stop();
    }
  });

  it("PERMISSION_DENIED on Compensate: FAILED at once instead of after the compensation budget; resume finishes it", async () => {
    const payments = await startDenyingParticipant();
    const shipping = await startRecordingParticipant({
      ship: {
        execute: async () => {
          throw new BusinessFailure("no address");
        },
      },
    });
    participants.push(shipping);
    try {
      const saga = await h.start({
        steps: [
          step("charge", payments.address, { compensateRetry: fastRetry(50) }),
          step("ship", shipping.address),
        ],
      });
      const failed = await h.waitFor(saga.sagaId, SagaStatus.SAGA_STATUS_FAILED);
      expect(failed.steps[0]?.compensateAttempts).toBe(1); // not retried
      expect(failed.steps[0]?.lastError).toBe("PERMISSION_DENIED: coordinator may not refund");
      expect(failed.reason).toContain(
        `participant ${payments.address} answered PERMISSION_DENIED: coordinator may not refund to Compensate of step charge`,
      );
      expect(failed.reason).toContain("AdminService.ResumeSaga");

      payments.grant();
      await call(h.admin.resumeSaga, h.admin, {
        sagaId: saga.sagaId,
        reason: "refund permission granted",
        overrides: [],
      });
      const done = await h.waitFor(saga.sagaId);
      expect(done.status).toBe(SagaStatus.SAGA_STATUS_COMPENSATED);
      expect(done.steps[0]?.compensateAttempts).toBe(2);
      expect(payments.compensated()).toBe(1);
    } finally {
      await payments.stop();
    }
  });
});
