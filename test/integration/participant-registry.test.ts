import { status } from "@grpc/grpc-js";
import { SagaStatus } from "@saga-coordinator/proto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type Harness, startHarness, step } from "../support/coordinator-harness.js";
import { callError } from "../support/grpc-call.js";
import { type RecordingParticipant, startRecordingParticipant } from "../support/recording-participant.js";

// In start mode a step names a registered participant; the coordinator dials
// only registered addresses, so a caller cannot use it to probe the network.

describe("participant registry", () => {
  let p: RecordingParticipant;
  let registryOnly: Harness;
  let direct: Harness;
  beforeAll(async () => {
    p = await startRecordingParticipant({ a: {} });
    registryOnly = await startHarness({
      mongoUri: inject("mongoUri"),
      extra: { participant: [`payments=${p.address}`], "allow-direct-participant-addresses": undefined },
    });
    direct = await startHarness({ mongoUri: inject("mongoUri") });
  });
  afterAll(async () => {
    await registryOnly?.close();
    await direct?.close();
    await p?.stop();
  });

  const startRequest = (participant: string) => ({
    sagaId: "",
    sagaType: "t",
    steps: [step("a", participant)],
    labels: {},
  });

  it("refuses an unregistered address at StartSaga, naming the registered participants", async () => {
    for (const target of [p.address, "127.0.0.1:22", "[::1]:2379", "metadata.internal:80"]) {
      const err = await callError(registryOnly.client.startSaga, registryOnly.client, startRequest(target));
      expect(err.code, target).toBe(status.INVALID_ARGUMENT);
      expect(err.details).toContain(
        `is not a registered participant (one of payments); this node takes no direct host:port addresses (--allow-direct-participant-addresses)`,
      );
    }
    expect(p.calls).toEqual([]);
  });

  it("runs a saga whose step names a registered participant", async () => {
    const saga = await registryOnly.start({ steps: [step("a", "payments")] });
    expect((await registryOnly.waitFor(saga.sagaId)).status).toBe(SagaStatus.SAGA_STATUS_COMPLETED);
  });

  it("checks the port of a direct address where those are allowed", async () => {
    for (const port of [0, 65_536, 99_999]) {
      const err = await callError(direct.client.startSaga, direct.client, startRequest(`127.0.0.1:${port}`));
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(err.details).toContain(`port ${port} is not in 1..65535`);
    }
  });
});
