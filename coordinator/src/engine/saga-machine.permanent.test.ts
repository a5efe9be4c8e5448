import { describe, expect, it } from "vitest";
import { effectiveDefinition } from "./effective-definition.js";
import type { SagaDefinition } from "./saga-definition.js";
import { retry, SagaRun, sagaDef, stepDef } from "./test-support.js";

// Statuses no retry can change (UNIMPLEMENTED, UNAUTHENTICATED, PERMISSION_DENIED,
// INVALID_ARGUMENT; the transport reports them as failure "permanent"): never
// retried forever, never a burnt retry budget.

const UNIMPLEMENTED =
  "UNIMPLEMENTED: The server does not implement the method /saga.v1.ParticipantService/Execute";
const DENIED = "PERMISSION_DENIED: coordinator may not call refunds";

/** reserve (compensatable) -> charge (pivot) -> ship (retriable), each on its own participant. */
const checkout = (overrides: Partial<SagaDefinition> = {}): SagaDefinition =>
  sagaDef(
    [
      stepDef("reserve", { participant: "inventory" }),
      stepDef("charge", { kind: "pivot", participant: "payments" }),
      stepDef("ship", { kind: "retriable", participant: "shipping:50051" }),
    ],
    overrides,
  );

function pastPivot(): SagaRun {
  const run = new SagaRun(checkout());
  run.start();
  run.ok("reserve");
  expect(run.ok("charge").commands).toEqual(["execute ship#1"]);
  return run;
}

describe("a permanent failure on a RETRIABLE step", () => {
  it("parks the saga FAILED at once, naming the step, the participant, the status and ResumeSaga", () => {
    const run = pastPivot();
    const refused = run.fail("ship", "permanent", UNIMPLEMENTED);
    expect(refused.commands).toEqual([]);
    expect(run.status).toBe("FAILED");
    expect(run.step("ship")).toMatchObject({ status: "FAILED", attempts: 1, lastError: UNIMPLEMENTED });
    expect(run.state.reason).toBe(
      `participant shipping:50051 answered ${UNIMPLEMENTED} to Execute of step ship (attempt 1); ` +
        "no retry can change that and the step is past the pivot and must eventually succeed. " +
        "Fix the participant or its configuration, then resume the saga with AdminService.ResumeSaga",
    );
    expect(run.state.nextWakeAt).toBeNull();
    expect(run.historyOf("STEP_RETRY_SCHEDULED")).toEqual([]);
    expect(run.historyOf("COMPENSATION_DISPATCHED")).toEqual([]);
    expect(refused.history.map((h) => h.type)).toEqual(["STEP_FAILED", "STATUS_CHANGED"]);
    run.after(3_600_000);
    run.expectUnchanged({ type: "timerFired" });
  });

  it("after transient failures too: the attempts so far do not matter", () => {
    const run = pastPivot();
    for (let i = 0; i < 5; i++) {
      run.fail("ship", "transient");
      run.at(run.step("ship").nextAttemptAt as number).timer();
    }
    run.fail("ship", "permanent", "UNAUTHENTICATED: token expired");
    expect(run.status).toBe("FAILED");
    expect(run.state.reason).toContain(
      "answered UNAUTHENTICATED: token expired to Execute of step ship (attempt 6)",
    );
  });

  it("resume (once the participant is fixed) retries the step with the same idempotency and completes", () => {
    const run = pastPivot();
    run.fail("ship", "permanent", UNIMPLEMENTED);
    const resumed = run.resume("shipping redeployed");
    expect(resumed.commands).toEqual(["execute ship#2"]);
    expect(run.status).toBe("RUNNING");
    run.ok("ship");
    expect(run.status).toBe("COMPLETED");
  });

  it("a second permanent answer after the resume parks it again", () => {
    const run = pastPivot();
    run.fail("ship", "permanent", UNIMPLEMENTED);
    run.resume();
    run.fail("ship", "permanent", DENIED);
    expect(run.status).toBe("FAILED");
    expect(run.state.reason).toContain(`answered ${DENIED} to Execute of step ship (attempt 2)`);
  });
});

describe("a permanent failure on a step before the pivot", () => {
  it("COMPENSATABLE: a definite failure, not retried whatever the budget; the steps before it are compensated", () => {
    const run = new SagaRun(
      sagaDef([
        stepDef("a", { participant: "inventory" }),
        stepDef("b", { participant: "payments", retry: retry({ maxAttempts: 50 }) }),
        stepDef("c"),
      ]),
    );
    run.start();
    run.ok("a");
    const refused = run.fail("b", "permanent", DENIED);
    expect(refused.commands).toEqual(["compensate a#1"]);
    expect(run.status).toBe("COMPENSATING");
    expect(run.state.reason).toBe(
      `step b failed: participant payments answered ${DENIED} to Execute of step b (attempt 1), ` +
        "a status that no retry can change",
    );
    expect(run.statuses()).toEqual({ a: "COMPENSATING", b: "FAILED", c: "SKIPPED" });
    // Nothing took effect: b itself is not compensated.
    run.compOk("a");
    expect(run.status).toBe("COMPENSATED");
    expect(run.historyOf("COMPENSATION_DISPATCHED")).toEqual(["a#1"]);
  });

  it("COMPENSATABLE after unanswered attempts: compensated too (an earlier attempt may have taken effect)", () => {
    const run = new SagaRun(sagaDef([stepDef("a"), stepDef("b", { retry: retry({ maxAttempts: 5 }) })]));
    run.start();
    run.ok("a");
    run.fail("b", "timeout");
    run.at(run.step("b").nextAttemptAt as number).timer();
    expect(run.fail("b", "permanent", DENIED).commands).toEqual(["compensate b#1"]);
    expect(run.step("b")).toMatchObject({ status: "COMPENSATING", outcomeUnknown: true });
  });

  it("PIVOT answering at its first attempt: nothing took effect, so the steps before it are compensated", () => {
    const run = new SagaRun(checkout());
    run.start();
    run.ok("reserve");
    expect(run.fail("charge", "permanent", UNIMPLEMENTED).commands).toEqual(["compensate reserve#1"]);
    expect(run.status).toBe("COMPENSATING");
    run.compOk("reserve");
    expect(run.status).toBe("COMPENSATED");
    expect(run.statuses()).toEqual({ reserve: "COMPENSATED", charge: "FAILED", ship: "SKIPPED" });
  });

  it("PIVOT after an unanswered attempt: FAILED for an operator (it may have taken effect and cannot be compensated)", () => {
    const run = new SagaRun(checkout());
    run.start();
    run.ok("reserve");
    run.fail("charge", "timeout");
    run.at(run.step("charge").nextAttemptAt as number).timer();
    const refused = run.fail("charge", "permanent", "UNAUTHENTICATED: bad token");
    expect(refused.commands).toEqual([]);
    expect(run.status).toBe("FAILED");
    expect(run.state.reason).toContain(
      "participant payments answered UNAUTHENTICATED: bad token to Execute of step charge (attempt 2)",
    );
    expect(run.state.reason).toContain("the pivot may have taken effect on an earlier unanswered attempt");
    expect(run.state.reason).toContain("AdminService.ResumeSaga");
    expect(run.resume().commands).toEqual(["execute charge#3"]);
    run.ok("charge");
    run.ok("ship");
    expect(run.status).toBe("COMPLETED");
  });

  it("a step refused while the saga is already compensating is not compensated and changes nothing else", () => {
    const run = new SagaRun(
      sagaDef([stepDef("a"), stepDef("b", { dependsOn: ["a"] }), stepDef("c", { dependsOn: ["a"] })]),
    );
    run.start();
    expect(run.ok("a").commands).toEqual(["execute b#1", "execute c#1"]);
    run.fail("b", "business");
    expect(run.status).toBe("COMPENSATING");
    expect(run.fail("c", "permanent", DENIED).commands).toEqual(["compensate a#1"]);
    expect(run.status).toBe("COMPENSATING");
    expect(run.step("c").status).toBe("FAILED");
    expect(run.compOk("a").commands).toEqual([]);
    expect(run.status).toBe("COMPENSATED");
  });
});

describe("a permanent failure on Compensate", () => {
  function compensating(): SagaRun {
    const run = new SagaRun(
      sagaDef([
        stepDef("a", { participant: "inventory", compensateRetry: retry({ maxAttempts: 20 }) }),
        stepDef("b"),
      ]),
    );
    run.start();
    run.ok("a");
    expect(run.fail("b", "business").commands).toEqual(["compensate a#1"]);
    return run;
  }

  it("parks the saga FAILED at once instead of using up the compensation budget", () => {
    const run = compensating();
    const refused = run.compFail("a", DENIED, 1, "permanent");
    expect(refused.commands).toEqual([]);
    expect(run.status).toBe("FAILED");
    expect(run.step("a")).toMatchObject({
      status: "COMPENSATING",
      compensateAttempts: 1,
      lastError: DENIED,
      nextAttemptAt: null,
    });
    expect(run.state.reason).toBe(
      `participant inventory answered ${DENIED} to Compensate of step a (attempt 1); no retry can change that. ` +
        "Fix the participant or its configuration, then resume the saga with AdminService.ResumeSaga",
    );
    expect(run.historyOf("COMPENSATION_RETRY_SCHEDULED")).toEqual([]);
    expect(run.state.nextWakeAt).toBeNull();
  });

  it("resume retries the compensation and finishes the saga", () => {
    const run = compensating();
    run.compFail("a", DENIED, 1, "permanent");
    expect(run.resume("granted").commands).toEqual(["compensate a#2"]);
    expect(run.status).toBe("COMPENSATING");
    run.compOk("a");
    expect(run.status).toBe("COMPENSATED");
  });

  it("a compensateFailed without a failure kind (an older driver) is retried as before", () => {
    const run = compensating();
    run.compFail("a", DENIED);
    expect(run.status).toBe("COMPENSATING");
    expect(run.historyOf("COMPENSATION_RETRY_SCHEDULED")).toEqual(["a#1"]);
    run.at(run.step("a").nextAttemptAt as number);
    expect(run.timer().commands).toEqual(["compensate a#2"]);
  });
});

describe("resume with step overrides", () => {
  /** A refused retriable step: the saga waits FAILED for an operator. */
  function parked(): SagaRun {
    const run = pastPivot();
    run.fail("ship", "permanent", UNIMPLEMENTED);
    expect(run.status).toBe("FAILED");
    return run;
  }

  it("keeps the override in the step's state, records it, and runs the step with it", () => {
    const run = parked();
    const resumed = run.resume("moved to the new shipping service", {
      ship: { participant: "shipping-v2", timeoutMs: 60_000 },
    });
    expect(resumed.commands).toEqual(["execute ship#2"]);
    expect(run.step("ship").override).toEqual({ participant: "shipping-v2", timeoutMs: 60_000 });
    expect(effectiveDefinition(run.def, run.state).steps[2]).toMatchObject({
      name: "ship",
      participant: "shipping-v2",
      timeoutMs: 60_000,
    });
    // The definition StartSaga gave stays as it was.
    expect(run.def.steps[2]?.participant).toBe("shipping:50051");
    expect(run.history.filter((h) => h.type === "RESUMED").map((h) => [h.type, h.step, h.detail])).toEqual([
      ["RESUMED", "ship", "overridden on resume: timeout 60000ms; participant shipping-v2"],
      ["RESUMED", "", "moved to the new shipping service"],
    ]);
  });

  it("a compensation that kept timing out gets a new retry budget from its override", () => {
    const run = new SagaRun(
      sagaDef([stepDef("reserve", { compensateRetry: retry({ maxAttempts: 1 }) }), stepDef("pay")]),
    );
    run.start();
    run.ok("reserve");
    run.fail("pay", "business", "FAILED_PRECONDITION: card declined");
    run.compFail("reserve", "timeout");
    expect(run.status).toBe("FAILED");
    const resumed = run.resume("slow inventory", { reserve: { compensateRetry: retry({ maxAttempts: 4 }) } });
    expect(resumed.commands).toEqual(["compensate reserve#2"]);
    expect(effectiveDefinition(run.def, run.state).steps[0]?.compensateRetry.maxAttempts).toBe(4);
  });

  it("refuses overrides of steps the saga does not have, changing nothing", () => {
    const run = parked();
    const before = run.state;
    expect(
      run.expectRejected({ type: "resume", reason: "typo", overrides: { shipp: { timeoutMs: 5_000 } } }),
    ).toBe("overrides name steps this saga does not have: shipp");
    expect(run.state).toBe(before);
  });
});
