import { runConformance } from "@saga-coordinator/participant-sdk";
import { SagaStatus, StepKind, StepStatus } from "@saga-coordinator/proto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { fastRetry, type Harness, startHarness, step } from "../support/coordinator-harness.js";
import {
  type ExampleProcess,
  startGoShipping,
  startPythonPayment,
  tempPath,
} from "../support/example-participants.js";
import { effectsOf } from "../support/participant-effects.js";
import { type RecordingParticipant, startRecordingParticipant } from "../support/recording-participant.js";

// One saga across three languages: TypeScript inventory (SDK), Python payment
// (grpcio, SQLite barrier), Go shipping (grpc-go, SQLite barrier).

const json = (v: unknown) => Buffer.from(JSON.stringify(v));

describe("participants in Python and Go", () => {
  let h: Harness;
  let inventory: RecordingParticipant;
  let payment: ExampleProcess;
  let shipping: ExampleProcess;
  const shippingDb = tempPath("go-shipping-db-", "barrier.db");

  beforeAll(async () => {
    h = await startHarness({ mongoUri: inject("mongoUri") });
    inventory = await startRecordingParticipant({ reserve: {} });
    payment = await startPythonPayment();
    shipping = await startGoShipping({ db: shippingDb });
  });
  afterAll(async () => {
    await h?.close();
    await inventory?.stop();
    await payment?.kill();
    await shipping?.kill();
  });

  it.each([
    ["python", () => payment.address, "charge", { amount: 10 }],
    ["go", () => shipping.address, "ship", { address: "1 Main St" }],
  ])("the %s participant passes the conformance kit", async (_lang, target, stepName, payload) => {
    const report = await runConformance({ target: target(), step: stepName, payload: json(payload) });
    const failed = report.results.filter((r) => !r.passed).map((r) => `${r.id}: ${r.detail}`);
    expect(failed).toEqual([]);
    expect(report.passed).toBe(true);
  });

  const order = (address: string) => [
    step("reserve", inventory.address, { payload: json({ sku: "A1", qty: 1 }) }),
    step("charge", payment.address, { payload: json({ amount: 42 }) }),
    step("ship", shipping.address, { payload: json({ address }), kind: StepKind.STEP_KIND_PIVOT }),
  ];

  it("completes a saga across the three languages", async () => {
    const saga = await h.start({ sagaType: "polyglot", steps: order("1 Main St") });
    const done = await h.waitFor(saga.sagaId);
    expect(done.status).toBe(SagaStatus.SAGA_STATUS_COMPLETED);
    const charge = JSON.parse(Buffer.from(done.steps[1]?.output ?? []).toString());
    expect(charge.charge_id).toBeTruthy();
    expect(await effectsOf(payment.address, saga.sagaId, "charge")).toEqual({ executed: 1, compensated: 0 });
    expect(await effectsOf(shipping.address, saga.sagaId, "ship")).toEqual({ executed: 1, compensated: 0 });
  });

  it("compensates across languages when the step after the Python one fails", async () => {
    const saga = await h.start({ sagaType: "polyglot", steps: order("") });
    const done = await h.waitFor(saga.sagaId);
    expect(done.status).toBe(SagaStatus.SAGA_STATUS_COMPENSATED);
    expect(done.reason).toContain("no delivery address");
    expect(done.steps.map((s) => s.status)).toEqual([
      StepStatus.STEP_STATUS_COMPENSATED,
      StepStatus.STEP_STATUS_COMPENSATED,
      StepStatus.STEP_STATUS_FAILED,
    ]);
    expect(await effectsOf(payment.address, saga.sagaId, "charge")).toEqual({ executed: 1, compensated: 1 });
    expect(await effectsOf(shipping.address, saga.sagaId, "ship")).toEqual({ executed: 0, compensated: 0 });
    expect(inventory.effects.get(`${saga.sagaId}/reserve/compensate`)).toBe(1);
  });

  it("completes with one effect per step when the Go participant is killed and restarted mid-saga", async () => {
    const address = shipping.address;
    await shipping.kill();
    shipping = await startGoShipping({ db: shippingDb, latency: "3s", address });
    const steps = order("1 Main St");
    (steps[2] as (typeof steps)[number]).retry = {
      ...fastRetry(200),
      maxBackoff: { seconds: 0, nanos: 250_000_000 },
    };
    const saga = await h.start({ sagaType: "polyglot", steps });
    // Wait until the shipping call is inside the Go handler (its log line says so), then kill the
    // process mid-handler: the carrier takes 3 s, far longer than the kill.
    await loggedLine(shipping, '"msg":"calling the carrier"', `"sagaId":"${saga.sagaId}"`);
    await shipping.kill("SIGKILL");
    shipping = await startGoShipping({ db: shippingDb, address });
    const done = await h.waitFor(saga.sagaId, undefined, 90_000);
    expect(done.status).toBe(SagaStatus.SAGA_STATUS_COMPLETED);
    expect(inventory.effects.get(`${saga.sagaId}/reserve/execute`)).toBe(1);
    expect(await effectsOf(payment.address, saga.sagaId, "charge")).toEqual({ executed: 1, compensated: 0 });
    expect(await effectsOf(shipping.address, saga.sagaId, "ship")).toEqual({ executed: 1, compensated: 0 });
  });
});

/** Resolves once the process has printed a line containing every one of `parts`. */
function loggedLine(proc: ExampleProcess, ...parts: string[]): Promise<void> {
  const found = () =>
    proc
      .output()
      .split("\n")
      .some((line) => parts.every((p) => line.includes(p)));
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!found()) return;
      proc.child.stdout?.off("data", check);
      resolve();
    };
    proc.child.stdout?.on("data", check);
    proc.child.once("exit", () =>
      reject(new Error(`exited before logging ${parts.join(" ")}:\n${proc.output()}`)),
    );
    check();
  });
}
