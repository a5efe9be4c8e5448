import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { classify, GrpcParticipantTransport } from "./grpc-participant-transport.js";

// The outcome rules of participant.proto, status by status.

const error = (code: status, details: string): ServiceError =>
  Object.assign(new Error(`${code} ${details}`), { code, details, metadata: new Metadata() });

describe("classify", () => {
  it("FAILED_PRECONDITION and ABORTED are a business no on Execute, transient on Compensate", () => {
    for (const code of [status.FAILED_PRECONDITION, status.ABORTED]) {
      expect(classify(error(code, "no"), "execute")).toMatchObject({ ok: false, failure: "business" });
      expect(classify(error(code, "no"), "compensate")).toMatchObject({ ok: false, failure: "transient" });
    }
  });

  it("statuses no retry can change are permanent in both phases", () => {
    for (const code of [
      status.UNIMPLEMENTED,
      status.UNAUTHENTICATED,
      status.PERMISSION_DENIED,
      status.INVALID_ARGUMENT,
    ]) {
      expect(classify(error(code, "x"), "execute")).toMatchObject({ ok: false, failure: "permanent" });
      expect(classify(error(code, "x"), "compensate")).toMatchObject({ ok: false, failure: "permanent" });
    }
  });

  it("DEADLINE_EXCEEDED is a timeout; everything else is transient", () => {
    expect(classify(error(status.DEADLINE_EXCEEDED, "late"), "execute")).toMatchObject({
      failure: "timeout",
    });
    for (const code of [
      status.UNAVAILABLE,
      status.INTERNAL,
      status.UNKNOWN,
      status.RESOURCE_EXHAUSTED,
      status.NOT_FOUND,
      status.CANCELLED,
    ]) {
      expect(classify(error(code, "x"), "execute")).toMatchObject({ failure: "transient" });
    }
  });

  it("names the status and the participant's message in the error", () => {
    expect(classify(error(status.UNIMPLEMENTED, "no such method"), "execute")).toEqual({
      ok: false,
      failure: "permanent",
      error: "UNIMPLEMENTED: no such method",
    });
  });
});

describe("GrpcParticipantTransport channels", () => {
  const call = {
    sagaId: "s",
    sagaType: "t",
    step: "a",
    attempt: 1,
    idempotencyKey: "s/a",
    payload: new Uint8Array(),
    contentType: "",
    dependencyOutputs: {},
  };

  it("closes and forgets a participant's channel once it has been idle, never while a call is in flight", async () => {
    const transport = new GrpcParticipantTransport({ idleCloseMs: 60_000 });
    try {
      // Port 1 on loopback: nothing listens, so the call fails fast, as to a dead participant.
      const outcome = await transport.execute("127.0.0.1:1", call, 2_000);
      expect(outcome.ok).toBe(false);
      expect(transport.openChannels).toBe(1);
      transport.closeIdle(Date.now() + 30_000);
      expect(transport.openChannels).toBe(1);
      const pending = transport.execute("127.0.0.1:2", call, 2_000);
      transport.closeIdle(Date.now() + 120_000);
      expect(transport.openChannels).toBe(1); // :1 closed, :2 has a call in flight
      await pending;
      transport.closeIdle(Date.now() + 120_000);
      expect(transport.openChannels).toBe(0);
    } finally {
      transport.close();
    }
  });
});
