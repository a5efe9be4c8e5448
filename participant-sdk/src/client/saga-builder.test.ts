import { StepKind } from "@saga-coordinator/proto";
import { describe, expect, it } from "vitest";
import { saga } from "./saga-builder.js";

describe("saga builder", () => {
  it("builds steps with kinds, payload encodings and options in order", () => {
    const request = saga("order-checkout")
      .id("order-123")
      .label("tenant", "acme")
      .step("reserve", "inventory", { json: { sku: "A1", qty: 2 }, timeoutMs: 1_500 })
      .pivot("charge", "payments:50051", { text: "4200", retry: { maxAttempts: 3, initialBackoffMs: 250 } })
      .retriable("ship", "shipping", { bytes: Uint8Array.of(1, 2), contentType: "application/octet-stream" })
      .build();
    expect(request.sagaId).toBe("order-123");
    expect(request.sagaType).toBe("order-checkout");
    expect(request.labels).toEqual({ tenant: "acme" });
    expect(request.steps.map((s) => [s.name, s.participant, s.kind])).toEqual([
      ["reserve", "inventory", StepKind.STEP_KIND_COMPENSATABLE],
      ["charge", "payments:50051", StepKind.STEP_KIND_PIVOT],
      ["ship", "shipping", StepKind.STEP_KIND_RETRIABLE],
    ]);
    const [reserve, charge, ship] = request.steps;
    expect(JSON.parse(reserve?.payload.toString() ?? "")).toEqual({ sku: "A1", qty: 2 });
    expect(reserve?.contentType).toBe("application/json");
    expect(reserve?.timeout).toEqual({ seconds: 1, nanos: 500_000_000 });
    expect(reserve?.retry).toBeUndefined();
    expect(charge?.payload.toString()).toBe("4200");
    expect(charge?.contentType).toBe("text/plain; charset=utf-8");
    expect(charge?.retry).toEqual({
      maxAttempts: 3,
      initialBackoff: { seconds: 0, nanos: 250_000_000 },
      maxBackoff: undefined,
      multiplier: 0,
      jitter: -1,
    });
    expect([...(ship?.payload ?? [])]).toEqual([1, 2]);
    expect(ship?.contentType).toBe("application/octet-stream");
  });

  it("picks a fresh random id per build when none is set, so each start is a new saga", () => {
    const builder = saga("t").step("a", "p");
    const first = builder.build().sagaId;
    expect(first).toMatch(/^[0-9a-f-]{36}$/);
    expect(builder.build().sagaId).not.toBe(first);
  });

  it("carries depends_on, the deadline and compensate retry", () => {
    const deadline = new Date("2030-01-01T00:00:00Z");
    const request = saga("dag")
      .deadline(deadline)
      .step("a", "p")
      .step("b", "p")
      .step("c", "p", { dependsOn: ["a", "b"], compensateRetry: { maxAttempts: 50, jitter: 0 } })
      .build();
    expect(request.deadline).toEqual(deadline);
    expect(request.steps[2]?.dependsOn).toEqual(["a", "b"]);
    expect(request.steps[2]?.compensateRetry?.jitter).toBe(0);
    expect(request.steps[0]?.dependsOn).toEqual([]);
    expect(request.steps[0]?.payload).toHaveLength(0);
  });

  it("rejects duplicate step names, two payload kinds, an empty saga and an empty type", () => {
    expect(() => saga("t").step("a", "p").step("a", "q")).toThrow(/already has a step named "a"/);
    expect(() => saga("t").step("a", "p", { json: {}, text: "x" })).toThrow(
      /at most one of json, text, bytes/,
    );
    expect(() => saga("t").build()).toThrow(/no steps/);
    expect(() => saga("")).toThrow(/needs a type/);
    expect(() => saga("t").step("a", "p", { timeoutMs: -1 })).toThrow(RangeError);
  });
});
