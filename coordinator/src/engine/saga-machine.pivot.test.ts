import { describe, expect, it } from "vitest";
import type { SagaDefinition } from "./saga-definition.js";
import { RETRIABLE_PAST_BUDGET_MIN_MS } from "./saga-machine.js";
import { GRACE_MS, retry, SagaRun, sagaDef, stepDef, T0 } from "./test-support.js";
import { DEFAULT_LIMITS, validateDefinition } from "./validate-definition.js";

// The pivot (point of no return) and the retriable steps after it.

/** reserve (compensatable) -> charge (pivot) -> ship, notify (retriable), in list order. */
const checkout = (overrides: Partial<SagaDefinition> = {}): SagaDefinition =>
  sagaDef(
    [
      stepDef("reserve"),
      stepDef("charge", { kind: "pivot" }),
      stepDef("ship", { kind: "retriable" }),
      stepDef("notify", { kind: "retriable" }),
    ],
    overrides,
  );

/** Runs `checkout` up to the pivot being in flight. */
function atPivot(def = checkout()): SagaRun {
  const run = new SagaRun(def);
  run.start();
  expect(run.ok("reserve").commands).toEqual(["execute charge#1"]);
  return run;
}

describe("pivot: the fixtures are valid definitions", () => {
  it("checkout passes validateDefinition", () => {
    expect(validateDefinition(checkout(), DEFAULT_LIMITS, T0)).toBeNull();
  });
});

describe("pivot and retriable steps: forward", () => {
  it("runs through the pivot and the retriable steps to COMPLETED", () => {
    const run = atPivot();
    expect(run.ok("charge", "charge-id-42").commands).toEqual(["execute ship#1"]);
    expect(run.ok("ship").commands).toEqual(["execute notify#1"]);
    run.ok("notify");
    expect(run.status).toBe("COMPLETED");
  });

  it("after the pivot succeeded, a retriable step is retried past its max_attempts until it succeeds", () => {
    const run = atPivot();
    run.ok("charge");
    expect(run.step("ship").status).toBe("EXECUTING");
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) {
      const failure = i % 2 === 0 ? "transient" : "timeout";
      const r = run.fail("ship", failure);
      expect(r.commands).toEqual([]);
      expect(run.status).toBe("RUNNING");
      expect(run.step("ship").status).toBe("RETRY_WAIT");
      waits.push((run.step("ship").nextAttemptAt as number) - run.now);
      run.at(run.step("ship").nextAttemptAt as number);
      expect(run.timer().commands).toEqual([`execute ship#${i + 2}`]);
    }
    expect(run.step("ship").attempts).toBe(9); // 3 times its max_attempts
    // Backoff within max_attempts (3); past it at least RETRIABLE_PAST_BUDGET_MIN_MS.
    expect(waits).toEqual([100, 200, 1_000, 1_000, 1_000, 1_000, 1_000, 1_000]);
    expect(run.ok("ship").commands).toEqual(["execute notify#1"]);
    run.ok("notify");
    expect(run.status).toBe("COMPLETED");
  });

  it("past its max_attempts a retriable step retries no faster than once a second, whatever its backoff", () => {
    const fast = retry({ maxAttempts: 2, initialBackoffMs: 10, maxBackoffMs: 20, multiplier: 2, jitter: 0 });
    const run = atPivot(
      sagaDef([
        stepDef("reserve"),
        stepDef("charge", { kind: "pivot" }),
        stepDef("ship", { kind: "retriable", retry: fast }),
      ]),
    );
    run.ok("charge");
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      run.fail("ship", "transient");
      waits.push((run.step("ship").nextAttemptAt as number) - run.now);
      run.at(run.step("ship").nextAttemptAt as number);
      run.timer();
    }
    expect(waits).toEqual([
      10,
      RETRIABLE_PAST_BUDGET_MIN_MS,
      RETRIABLE_PAST_BUDGET_MIN_MS,
      RETRIABLE_PAST_BUDGET_MIN_MS,
    ]);
  });

  it("a retriable step answering a business failure sends the saga to FAILED, compensating nothing; resume retries it", () => {
    const run = atPivot();
    run.ok("charge");
    run.fail("ship", "transient");
    run.at(run.step("ship").nextAttemptAt as number).timer();
    const refused = run.fail("ship", "business", "FAILED_PRECONDITION: address unknown");
    expect(refused.commands).toEqual([]);
    expect(run.status).toBe("FAILED");
    expect(run.state.reason).toBe(
      "retriable step ship was refused (FAILED_PRECONDITION: address unknown); it must eventually succeed",
    );
    expect(run.statuses()).toEqual({
      reserve: "SUCCEEDED",
      charge: "SUCCEEDED",
      ship: "FAILED",
      notify: "PENDING",
    });
    expect(run.state.nextWakeAt).toBeNull();
    expect(run.expectRejected({ type: "cancel", reason: "x" })).toContain("FAILED");
    run.after(60_000);
    run.expectUnchanged({ type: "timerFired" });

    const resumed = run.resume("address fixed");
    expect(resumed.commands).toEqual(["execute ship#3"]);
    expect(run.status).toBe("RUNNING");
    expect(run.ok("ship").commands).toEqual(["execute notify#1"]);
    run.ok("notify");
    expect(run.status).toBe("COMPLETED");
    expect(run.historyOf("COMPENSATION_DISPATCHED")).toEqual([]);
  });

  it("two retriable steps in parallel: one refused -> FAILED; the other's transient failure waits for the operator too", () => {
    const def = sagaDef([
      stepDef("reserve"),
      stepDef("charge", { kind: "pivot", dependsOn: ["reserve"] }),
      stepDef("ship", { kind: "retriable", dependsOn: ["charge"] }),
      stepDef("email", { kind: "retriable", dependsOn: ["charge"] }),
      stepDef("close", { kind: "retriable", dependsOn: ["ship", "email"] }),
    ]);
    expect(validateDefinition(def, DEFAULT_LIMITS, T0)).toBeNull();
    const run = new SagaRun(def);
    run.start();
    run.ok("reserve");
    expect(run.ok("charge").commands).toEqual(["execute ship#1", "execute email#1"]);
    run.fail("ship", "business");
    expect(run.status).toBe("FAILED");
    expect(run.fail("email", "transient").commands).toEqual([]); // not retried while FAILED
    expect(run.step("email").status).toBe("FAILED");
    expect(run.resume().commands).toEqual(["execute ship#2", "execute email#2"]);
    run.ok("ship");
    expect(run.ok("email").commands).toEqual(["execute close#1"]);
    run.ok("close");
    expect(run.status).toBe("COMPLETED");
  });

  it("a FAILED saga does not wake up for a pending retry; resume dispatches it", () => {
    const def = sagaDef([
      stepDef("charge", { kind: "pivot" }),
      stepDef("ship", { kind: "retriable", dependsOn: ["charge"] }),
      stepDef("email", { kind: "retriable", dependsOn: ["charge"] }),
    ]);
    const run = new SagaRun(def);
    run.start();
    run.ok("charge");
    run.fail("email", "transient"); // retry due at T0 + 100
    expect(run.state.nextWakeAt).toBe(T0 + 100);
    run.fail("ship", "business");
    expect(run.status).toBe("FAILED");
    expect(run.state.nextWakeAt).toBeNull(); // waits for an operator, not for email's retry
    run.at(T0 + 100);
    run.expectUnchanged({ type: "timerFired" });
    expect(run.step("email").status).toBe("RETRY_WAIT");
    expect(run.resume().commands).toEqual(["execute ship#2", "execute email#2"]);
  });
});

describe("pivot: failures", () => {
  it("a business failure of the pivot compensates the steps before it, never the pivot, skips the steps after it", () => {
    const run = atPivot();
    const r = run.fail("charge", "business", "card declined");
    expect(r.commands).toEqual(["compensate reserve#1"]);
    expect(run.status).toBe("COMPENSATING");
    expect(run.statuses()).toEqual({
      reserve: "COMPENSATING",
      charge: "FAILED",
      ship: "SKIPPED",
      notify: "SKIPPED",
    });
    run.compOk("reserve");
    expect(run.status).toBe("COMPENSATED");
    expect(run.historyOf("COMPENSATION_DISPATCHED")).toEqual(["reserve#1"]);
  });

  it.each(["transient", "timeout"] as const)(
    "pivot %s failures exhausting its retries -> FAILED (outcome unknown), nothing compensated; resume retries it",
    (failure) => {
      const run = atPivot();
      for (let i = 0; i < 2; i++) {
        run.fail("charge", failure);
        run.at(run.step("charge").nextAttemptAt as number).timer();
      }
      expect(run.step("charge").attempts).toBe(3);
      const exhausted = run.fail("charge", failure, "DEADLINE_EXCEEDED");
      expect(exhausted.commands).toEqual([]);
      expect(run.status).toBe("FAILED");
      expect(run.state.reason).toBe(
        "pivot charge outcome unknown after 3 attempts (DEADLINE_EXCEEDED); it cannot be compensated",
      );
      expect(run.statuses()).toEqual({
        reserve: "SUCCEEDED",
        charge: "FAILED",
        ship: "PENDING",
        notify: "PENDING",
      });
      expect(run.step("charge").outcomeUnknown).toBe(true);
      expect(run.state.nextWakeAt).toBeNull();
      expect(run.expectRejected({ type: "cancel", reason: "x" })).toContain("FAILED");

      // Resume: attempt 4 at once, with a fresh budget of 3.
      const resumed = run.resume();
      expect(resumed.commands).toEqual(["execute charge#4"]);
      expect(run.status).toBe("RUNNING");
      run.fail("charge", failure);
      expect(run.step("charge").status).toBe("RETRY_WAIT");
      expect(run.status).toBe("RUNNING");
      run.at(run.step("charge").nextAttemptAt as number);
      expect(run.timer().commands).toEqual(["execute charge#5"]);
      expect(run.ok("charge").commands).toEqual(["execute ship#1"]);
      run.ok("ship");
      run.ok("notify");
      expect(run.status).toBe("COMPLETED");
      expect(run.historyOf("COMPENSATION_DISPATCHED")).toEqual([]);
    },
  );

  it("a resumed pivot that then answers a definite business failure compensates the steps before it", () => {
    const run = atPivot(
      sagaDef([
        stepDef("reserve"),
        stepDef("charge", { kind: "pivot", retry: retry({ maxAttempts: 1 }) }),
        stepDef("ship", { kind: "retriable" }),
      ]),
    );
    run.fail("charge", "timeout");
    expect(run.status).toBe("FAILED");
    run.resume();
    expect(run.fail("charge", "business").commands).toEqual(["compensate reserve#1"]);
    run.compOk("reserve");
    expect(run.status).toBe("COMPENSATED");
    expect(run.step("charge").status).toBe("FAILED");
  });

  it("a pivot as the first step that fails ends COMPENSATED without compensating anything", () => {
    const run = new SagaRun(sagaDef([stepDef("p", { kind: "pivot" }), stepDef("r", { kind: "retriable" })]));
    run.start();
    expect(run.fail("p", "business").commands).toEqual([]);
    expect(run.status).toBe("COMPENSATED");
    expect(run.statuses()).toEqual({ p: "FAILED", r: "SKIPPED" });
  });

  it("DAG: a pivot joining two branches; its failure compensates both branches in parallel", () => {
    const def = sagaDef([
      stepDef("a"),
      stepDef("b"),
      stepDef("p", { kind: "pivot", dependsOn: ["a", "b"] }),
      stepDef("r", { kind: "retriable", dependsOn: ["p"] }),
    ]);
    expect(validateDefinition(def, DEFAULT_LIMITS, T0)).toBeNull();
    const run = new SagaRun(def);
    expect(run.start().commands).toEqual(["execute a#1", "execute b#1"]);
    run.ok("a");
    expect(run.ok("b").commands).toEqual(["execute p#1"]);
    expect(run.fail("p", "business").commands).toEqual(["compensate a#1", "compensate b#1"]);
  });
});

describe("pivot: cancel and deadline", () => {
  it("cancel before the pivot is dispatched compensates, with the client's reason", () => {
    const run = new SagaRun(checkout());
    run.start();
    const r = run.cancel("out of stock elsewhere");
    expect(r.commands).toEqual([]);
    expect(run.status).toBe("COMPENSATING");
    expect(run.state.reason).toContain("out of stock elsewhere");
    expect(run.statuses()).toEqual({
      reserve: "EXECUTING",
      charge: "SKIPPED",
      ship: "SKIPPED",
      notify: "SKIPPED",
    });
    expect(run.ok("reserve").commands).toEqual(["compensate reserve#1"]);
    run.compOk("reserve");
    expect(run.status).toBe("COMPENSATED");
  });

  it("cancel once the pivot has been dispatched is rejected with a message naming the pivot", () => {
    const run = atPivot();
    const inFlight = run.expectRejected({ type: "cancel", reason: "too late" });
    expect(inFlight).toBe(
      "pivot step charge has been dispatched; past the pivot a saga can only move forward",
    );

    run.fail("charge", "transient"); // waiting to retry: still dispatched once
    expect(run.expectRejected({ type: "cancel", reason: "too late" })).toContain("charge");

    run.at(run.step("charge").nextAttemptAt as number).timer();
    run.ok("charge");
    expect(run.expectRejected({ type: "cancel", reason: "too late" })).toContain("pivot step charge");
    expect(run.status).toBe("RUNNING");
  });

  it("the deadline compensates before the pivot is dispatched", () => {
    const deadlineAt = T0 + 3_000;
    const run = new SagaRun(checkout({ deadlineAt }));
    run.start();
    expect(run.state.nextWakeAt).toBe(deadlineAt);
    run.at(deadlineAt);
    run.timer();
    expect(run.status).toBe("COMPENSATING");
    expect(run.state.reason).toBe("deadline exceeded");
  });

  it("the deadline does nothing once the pivot has been dispatched", () => {
    const deadlineAt = T0 + 3_000;
    const run = atPivot(checkout({ deadlineAt }));
    // The deadline is no longer a wake-up reason: only the pivot's call is watched.
    expect(run.state.nextWakeAt).toBe(T0 + 1_000 + GRACE_MS);
    run.at(deadlineAt + 1);
    run.expectUnchanged({ type: "timerFired" });
    expect(run.status).toBe("RUNNING");
    run.ok("charge");
    run.at(deadlineAt + 100_000);
    run.timer();
    expect(run.status).toBe("RUNNING");
    expect(run.state.reason).toBe("");
  });
});
