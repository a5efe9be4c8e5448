import { describe, expect, it } from "vitest";
import { SagaRun, sagaDef, stepDef } from "./test-support.js";

// A step whose output cannot be stored took effect all the same: it fails at
// once (no retry brings a smaller output) and counts as applied.

const limits = { maxOutputBytes: 10, maxSagaBytes: 40 };
const checkout = () =>
  sagaDef([
    stepDef("reserve", { payload: new Uint8Array(5) }),
    stepDef("charge", { kind: "pivot", payload: new Uint8Array(5) }),
  ]);

describe("an output that cannot be stored", () => {
  it("before the pivot: the step fails as applied and the saga compensates it, without retrying", () => {
    const run = new SagaRun(checkout());
    run.limits = limits;
    run.start();
    const answered = run.ok("reserve", "x".repeat(11));
    // Failed as applied, so it is compensated at once (it is the only step that ran).
    expect(run.step("reserve")).toMatchObject({ status: "COMPENSATING", outcomeUnknown: true, attempts: 1 });
    expect(run.history.filter((h) => h.type === "STEP_FAILED").map((h) => h.detail)).toEqual([
      "the output is 11 bytes; at most 10 are allowed (the step took effect; its output cannot be stored)",
    ]);
    expect(run.step("reserve").lastError).toBe("the output is 11 bytes; at most 10 are allowed");
    expect(run.status).toBe("COMPENSATING");
    expect(answered.commands).toEqual(["compensate reserve#1"]);
    expect(run.historyOf("STEP_RETRY_SCHEDULED")).toEqual([]);
  });

  it("counts the payloads and the outputs already stored against the saga's limit", () => {
    const run = new SagaRun(sagaDef([stepDef("a", { payload: new Uint8Array(20) }), stepDef("b")]));
    run.limits = limits;
    run.start();
    run.ok("a", "x".repeat(10));
    run.ok("b", "y".repeat(10));
    expect(run.step("b").lastError).toMatch(
      /^with this output the saga would hold 4\d bytes of payloads and outputs; at most 40 are allowed$/,
    );
    expect(run.status).toBe("COMPENSATING");
  });

  it("on a pivot: the saga stops FAILED for an operator, since a pivot cannot be compensated", () => {
    const run = new SagaRun(checkout());
    run.limits = limits;
    run.start();
    run.ok("reserve", "ok");
    run.ok("charge", "z".repeat(64));
    expect(run.status).toBe("FAILED");
    expect(run.state.reason).toContain("step charge (pivot) took effect but its output cannot be stored");
    expect(run.state.reason).toContain("AdminService.ResumeSaga");
  });

  it("an output within both limits is stored as before", () => {
    const run = new SagaRun(checkout());
    run.limits = limits;
    run.start();
    run.ok("reserve", "x".repeat(10));
    expect(run.step("reserve").status).toBe("SUCCEEDED");
  });
});
