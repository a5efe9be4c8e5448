import { status } from "@grpc/grpc-js";
import { BusinessFailure, SagaClient, SagaClientError, saga } from "@saga-coordinator/participant-sdk";
import { SagaEventType, SagaStatus } from "@saga-coordinator/proto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type Harness, startHarness } from "../support/coordinator-harness.js";
import { type RecordingParticipant, startRecordingParticipant } from "../support/recording-participant.js";

// The client SDK against the real coordinator (its own tests use a fake one).

describe("SagaClient against a real coordinator", () => {
  let h: Harness;
  let p: RecordingParticipant;
  let client: SagaClient;
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });

  beforeAll(async () => {
    h = await startHarness({ mongoUri: inject("mongoUri") });
    p = await startRecordingParticipant({
      reserve: {},
      hold: { execute: async () => void (await gate) },
      refuse: {
        execute: async () => {
          throw new BusinessFailure("declined");
        },
      },
    });
    client = new SagaClient({ address: h.node.address });
  });
  afterAll(async () => {
    release();
    client?.close();
    await h?.close();
    await p?.stop();
  });

  it("starts with the builder, watches live events and waits for the end", async () => {
    const label = `client-${Date.now()}`;
    const { saga: started, created } = await client.start(
      saga("client-test")
        .label("run", label)
        .step("reserve", p.address, { json: { sku: "A1" } })
        .step("refuse", p.address),
    );
    expect(created).toBe(true);
    const types: SagaEventType[] = [];
    for await (const event of client.watch(started.sagaId)) types.push(event.type);
    expect(types[0]).toBe(SagaEventType.SAGA_EVENT_TYPE_SAGA_STARTED);
    expect(types).toContain(SagaEventType.SAGA_EVENT_TYPE_STEP_COMPENSATED);
    const done = await client.waitFor(started.sagaId, { timeoutMs: 10_000 });
    expect(done.status).toBe(SagaStatus.SAGA_STATUS_COMPENSATED);
    expect(done.reason).toContain("declined");
    expect((await client.history(started.sagaId)).length).toBe(types.length);
  });

  it("lists page by page and cancels a running saga", async () => {
    const label = `list-${Date.now()}`;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { saga: s } = await client.start(
        saga("client-list").label("run", label).step("reserve", p.address),
      );
      ids.push(s.sagaId);
    }
    const seen: string[] = [];
    let pages = 0;
    for await (const page of client.list({ labels: { run: label }, pageSize: 2 })) {
      pages++;
      seen.push(...page.sagas.map((s) => s.sagaId));
    }
    expect(pages).toBe(3);
    expect(new Set(seen)).toEqual(new Set(ids));

    const { saga: held } = await client.start(
      saga("client-cancel").step("hold", p.address).step("reserve", p.address),
    );
    const cancelled = await client.cancel(held.sagaId, "changed my mind");
    expect(cancelled.status).toBe(SagaStatus.SAGA_STATUS_COMPENSATING);
    release();
    expect((await client.waitFor(held.sagaId, { timeoutMs: 10_000 })).status).toBe(
      SagaStatus.SAGA_STATUS_COMPENSATED,
    );
  });

  it("surfaces coordinator errors as typed errors with the gRPC status", async () => {
    const missing = await client.get("no-such-saga").catch((err: unknown) => err);
    expect(missing).toBeInstanceOf(SagaClientError);
    expect((missing as SagaClientError).code).toBe(status.NOT_FOUND);
    const invalid = await client
      .start(saga("bad type!").step("reserve", p.address))
      .catch((err: unknown) => err);
    expect((invalid as SagaClientError).code).toBe(status.INVALID_ARGUMENT);
    expect((invalid as SagaClientError).details).toContain("saga_type");
  });
});
