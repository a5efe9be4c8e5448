import { describe, expect, it } from "vitest";
import type { SagaDefinition } from "./saga-definition.js";
import { initialState, transition } from "./saga-machine.js";
import {
  GRACE_MS,
  retry,
  SagaRun,
  STEP_TIMEOUT_MS,
  sagaDef,
  stepDef,
  T0,
  testContext,
  text,
} from "./test-support.js";

// The sequential (list-order) saga: dispatch, results, retries, timers,
// compensation, cancel, deadline, resume and recovery. DAG-specific rules are
// in saga-machine.dag.test.ts and the pivot rules in saga-machine.pivot.test.ts.

const abc = (): SagaDefinition => sagaDef([stepDef("a"), stepDef("b"), stepDef("c")]);
/** The wake-up time of a call dispatched at `t` that gets no answer. */
const lostAt = (t: number) => t + STEP_TIMEOUT_MS + GRACE_MS;

describe("initialState", () => {
  it("is RUNNING with every step PENDING and nothing scheduled", () => {
    const state = initialState(abc());
    expect(state.status).toBe("RUNNING");
    expect(state.nextWakeAt).toBeNull();
    expect(state.reason).toBe("");
    expect(Object.keys(state.steps)).toEqual(["a", "b", "c"]);
    expect(state.steps.b).toEqual({
      status: "PENDING",
      attempts: 0,
      compensateAttempts: 0,
      attemptsForgiven: 0,
      output: null,
      lastError: "",
      nextAttemptAt: null,
      dispatchedAt: null,
      outcomeUnknown: false,
    });
  });
});

describe("sequential saga (no depends_on anywhere): list order", () => {
  it("dispatches one step at a time, stores outputs and completes", () => {
    const run = new SagaRun(abc());

    const started = run.start();
    expect(started.commands).toEqual(["execute a#1"]);
    expect(started.rawCommands).toEqual([{ type: "dispatchExecute", step: "a", attempt: 1 }]);
    expect(run.statuses()).toEqual({ a: "EXECUTING", b: "PENDING", c: "PENDING" });
    expect(run.step("a")).toMatchObject({ attempts: 1, dispatchedAt: T0 });
    expect(run.state.nextWakeAt).toBe(lostAt(T0));

    run.after(10);
    expect(run.ok("a", "A-out").commands).toEqual(["execute b#1"]);
    expect(run.statuses()).toEqual({ a: "SUCCEEDED", b: "EXECUTING", c: "PENDING" });
    expect(text(run.step("a").output)).toBe("A-out");
    expect(run.step("a").dispatchedAt).toBeNull();
    expect(run.state.nextWakeAt).toBe(lostAt(T0 + 10));

    expect(run.ok("b", "B-out").commands).toEqual(["execute c#1"]);
    const done = run.ok("c", "C-out");
    expect(done.commands).toEqual([]);
    expect(run.status).toBe("COMPLETED");
    expect(run.statuses()).toEqual({ a: "SUCCEEDED", b: "SUCCEEDED", c: "SUCCEEDED" });
    expect(["a", "b", "c"].map((n) => text(run.step(n).output))).toEqual(["A-out", "B-out", "C-out"]);
    expect(run.state.nextWakeAt).toBeNull();
    expect(run.state.reason).toBe("");
  });

  it("produces history entries for every step of the way", () => {
    const run = new SagaRun(abc());
    const started = run.start();
    expect(started.history).toEqual([
      { type: "SAGA_STARTED", step: "", attempt: 0, detail: "test.saga" },
      { type: "STEP_DISPATCHED", step: "a", attempt: 1, detail: "" },
    ]);
    expect(run.ok("a").history).toEqual([
      { type: "STEP_SUCCEEDED", step: "a", attempt: 1, detail: "" },
      { type: "STEP_DISPATCHED", step: "b", attempt: 1, detail: "" },
    ]);
    run.ok("b");
    expect(run.ok("c").history).toEqual([
      { type: "STEP_SUCCEEDED", step: "c", attempt: 1, detail: "" },
      { type: "STATUS_CHANGED", step: "", attempt: 0, detail: "" },
    ]);
    expect(run.history.map((h) => h.type)).toEqual([
      "SAGA_STARTED",
      "STEP_DISPATCHED",
      "STEP_SUCCEEDED",
      "STEP_DISPATCHED",
      "STEP_SUCCEEDED",
      "STEP_DISPATCHED",
      "STEP_SUCCEEDED",
      "STATUS_CHANGED",
    ]);
  });

  it("runs in list order even when the list order is not alphabetical", () => {
    const run = new SagaRun(sagaDef([stepDef("zeta"), stepDef("alpha"), stepDef("mid")]));
    expect(run.start().commands).toEqual(["execute zeta#1"]);
    expect(run.ok("zeta").commands).toEqual(["execute alpha#1"]);
    expect(run.ok("alpha").commands).toEqual(["execute mid#1"]);
  });

  it("completes a one-step saga", () => {
    const run = new SagaRun(sagaDef([stepDef("only")]));
    run.start();
    run.ok("only");
    expect(run.status).toBe("COMPLETED");
  });
});

describe("stale and duplicate results are ignored (unchanged)", () => {
  it("ignores a result for the wrong attempt, a step not executing, an unknown step", () => {
    const run = new SagaRun(abc());
    run.start();
    const output = new Uint8Array([1]);
    run.expectUnchanged({ type: "executeSucceeded", step: "a", attempt: 2, output });
    run.expectUnchanged({ type: "executeSucceeded", step: "a", attempt: 0, output });
    run.expectUnchanged({ type: "executeFailed", step: "a", attempt: 2, failure: "business", error: "x" });
    run.expectUnchanged({ type: "executeSucceeded", step: "b", attempt: 0, output }); // PENDING
    run.expectUnchanged({ type: "executeSucceeded", step: "b", attempt: 1, output });
    run.expectUnchanged({ type: "executeSucceeded", step: "nope", attempt: 1, output });
    run.expectUnchanged({
      type: "executeFailed",
      step: "nope",
      attempt: 1,
      failure: "transient",
      error: "x",
    });
    run.expectUnchanged({ type: "compensateSucceeded", step: "a", attempt: 0 });
    run.expectUnchanged({ type: "compensateSucceeded", step: "a", attempt: 1 }); // a is not compensating
    run.expectUnchanged({ type: "compensateFailed", step: "a", attempt: 1, error: "x" });
    run.expectUnchanged({ type: "compensateSucceeded", step: "nope", attempt: 1 });

    run.ok("a");
    // The same answer delivered twice: the second is a duplicate.
    run.expectUnchanged({ type: "executeSucceeded", step: "a", attempt: 1, output });
    run.expectUnchanged({ type: "executeFailed", step: "a", attempt: 1, failure: "transient", error: "x" });
    expect(text(run.step("a").output)).toBe("out-a");
  });

  it("ignores a late answer of an earlier attempt after a retry was scheduled or dispatched", () => {
    const run = new SagaRun(abc());
    run.start();
    run.fail("a", "transient");
    expect(run.step("a").status).toBe("RETRY_WAIT");
    const late = { type: "executeSucceeded", step: "a", attempt: 1, output: new Uint8Array() } as const;
    run.expectUnchanged(late); // a is waiting, not executing
    run.at(run.step("a").nextAttemptAt as number).timer();
    expect(run.step("a")).toMatchObject({ status: "EXECUTING", attempts: 2 });
    run.expectUnchanged(late); // attempt 2 is the one in flight
    expect(run.ok("a").commands).toEqual(["execute b#1"]);
  });

  it("ignores stale compensation answers", () => {
    const run = new SagaRun(abc());
    run.start();
    run.ok("a");
    run.fail("b", "business");
    expect(run.step("a")).toMatchObject({ status: "COMPENSATING", compensateAttempts: 1 });
    run.expectUnchanged({ type: "compensateSucceeded", step: "a", attempt: 2 });
    run.expectUnchanged({ type: "compensateFailed", step: "a", attempt: 0, error: "x" });
    run.compFail("a");
    // Backing off: nothing in flight, so even the current attempt number is stale.
    run.expectUnchanged({ type: "compensateSucceeded", step: "a", attempt: 1 });
    run.expectUnchanged({ type: "compensateFailed", step: "a", attempt: 1, error: "again" });
    run.at(run.step("a").nextAttemptAt as number).timer();
    run.expectUnchanged({ type: "compensateSucceeded", step: "a", attempt: 1 });
    run.compOk("a");
    expect(run.status).toBe("COMPENSATED");
    run.expectUnchanged({ type: "compensateSucceeded", step: "a", attempt: 2 });
  });

  it("ignores every participant answer once the saga is COMPLETED", () => {
    const run = new SagaRun(sagaDef([stepDef("a")]));
    run.start();
    run.ok("a");
    run.expectUnchanged({ type: "executeSucceeded", step: "a", attempt: 1, output: new Uint8Array() });
    run.expectUnchanged({ type: "executeFailed", step: "a", attempt: 1, failure: "business", error: "x" });
    run.expectUnchanged({ type: "compensateSucceeded", step: "a", attempt: 1 });
  });
});

describe("transient failures: retry with backoff", () => {
  it("puts the step in RETRY_WAIT with nextAttemptAt = now + backoff and retries when the timer is due", () => {
    const run = new SagaRun(abc());
    run.start();
    run.after(10);
    const failed = run.fail("a", "transient", "UNAVAILABLE: down");
    expect(failed.commands).toEqual([]);
    expect(failed.history).toEqual([
      { type: "STEP_RETRY_SCHEDULED", step: "a", attempt: 1, detail: "UNAVAILABLE: down" },
    ]);
    expect(run.step("a")).toMatchObject({
      status: "RETRY_WAIT",
      attempts: 1,
      nextAttemptAt: T0 + 10 + 100,
      dispatchedAt: null,
      lastError: "UNAVAILABLE: down",
      outcomeUnknown: true,
    });
    expect(run.state.nextWakeAt).toBe(T0 + 110);
    expect(run.status).toBe("RUNNING");

    // Early timer: nothing happens to the step.
    run.at(T0 + 109);
    run.expectUnchanged({ type: "timerFired" });
    expect(run.step("a")).toMatchObject({ status: "RETRY_WAIT", attempts: 1, nextAttemptAt: T0 + 110 });
    expect(run.state.nextWakeAt).toBe(T0 + 110);

    // Due: attempt 2.
    run.at(T0 + 110);
    expect(run.timer().commands).toEqual(["execute a#2"]);
    expect(run.step("a")).toMatchObject({
      status: "EXECUTING",
      attempts: 2,
      nextAttemptAt: null,
      dispatchedAt: T0 + 110,
    });

    // Second failure: the wait doubles.
    run.at(T0 + 200);
    run.fail("a", "timeout");
    expect(run.step("a")).toMatchObject({ status: "RETRY_WAIT", nextAttemptAt: T0 + 200 + 200 });

    // A late timer (well past the due time) dispatches too; the success clears the error.
    run.at(T0 + 5_000);
    expect(run.timer().commands).toEqual(["execute a#3"]);
    expect(run.ok("a").commands).toEqual(["execute b#1"]);
    expect(run.step("a")).toMatchObject({
      status: "SUCCEEDED",
      attempts: 3,
      lastError: "",
      outcomeUnknown: false,
    });
  });

  it("treats a timeout like a transient error (retried by policy)", () => {
    const run = new SagaRun(abc());
    run.start();
    run.fail("a", "timeout", "DEADLINE_EXCEEDED");
    expect(run.step("a")).toMatchObject({ status: "RETRY_WAIT", outcomeUnknown: true });
  });

  it("applies jitter from the context's random()", () => {
    const def = sagaDef([stepDef("a", { retry: retry({ jitter: 0.2 }) })]);
    const run = new SagaRun(def);
    run.start();
    run.fail("a", "transient"); // random() = 0.5: 100 * (1 - 0.1)
    expect(run.step("a").nextAttemptAt).toBe(T0 + 90);

    const zero = new SagaRun(def);
    zero.random = () => 0;
    zero.start();
    zero.fail("a", "transient");
    expect(zero.step("a").nextAttemptAt).toBe(T0 + 100);
  });

  it("caps the wait at maxBackoffMs", () => {
    const def = sagaDef([stepDef("a", { retry: retry({ maxAttempts: 10, maxBackoffMs: 300 }) })]);
    const run = new SagaRun(def);
    run.start();
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      run.fail("a", "transient");
      waits.push((run.step("a").nextAttemptAt as number) - run.now);
      run.at(run.step("a").nextAttemptAt as number).timer();
    }
    expect(waits).toEqual([100, 200, 300, 300]);
  });

  it("nextWakeAt moves from the in-flight call's deadline to the retry time", () => {
    const def = sagaDef([stepDef("a", { retry: retry({ initialBackoffMs: 60_000, maxBackoffMs: 60_000 }) })]);
    const run = new SagaRun(def);
    run.start();
    expect(run.state.nextWakeAt).toBe(lostAt(T0));
    run.fail("a", "transient");
    expect(run.state.nextWakeAt).toBe(T0 + 60_000);
  });
});

describe("failure of a step: compensation in reverse order", () => {
  it("business failure: the failed step is not compensated, later steps are SKIPPED, earlier ones are undone newest first", () => {
    const run = new SagaRun(sagaDef([stepDef("a"), stepDef("b"), stepDef("c"), stepDef("d")]));
    run.start();
    run.ok("a");
    run.ok("b");
    const failed = run.fail("c", "business", "FAILED_PRECONDITION: out of stock");
    expect(failed.commands).toEqual(["compensate b#1"]);
    expect(run.status).toBe("COMPENSATING");
    expect(run.state.reason).toBe("step c failed: FAILED_PRECONDITION: out of stock");
    expect(run.statuses()).toEqual({ a: "SUCCEEDED", b: "COMPENSATING", c: "FAILED", d: "SKIPPED" });
    expect(run.step("c")).toMatchObject({
      outcomeUnknown: false,
      lastError: "FAILED_PRECONDITION: out of stock",
    });
    expect(failed.history.map((h) => h.type)).toEqual([
      "STEP_FAILED",
      "COMPENSATION_DISPATCHED",
      "STATUS_CHANGED",
    ]);
    expect(failed.history[1]?.detail).toBe(run.state.reason);

    expect(run.compOk("b").commands).toEqual(["compensate a#1"]);
    expect(run.statuses()).toMatchObject({ a: "COMPENSATING", b: "COMPENSATED" });
    const last = run.compOk("a");
    expect(last.commands).toEqual([]);
    expect(run.status).toBe("COMPENSATED");
    expect(run.statuses()).toEqual({ a: "COMPENSATED", b: "COMPENSATED", c: "FAILED", d: "SKIPPED" });
    expect(run.state.nextWakeAt).toBeNull();
    // The reason stays with the saga after it is compensated; outputs are kept for the record.
    expect(run.state.reason).toContain("step c failed");
    expect(text(run.step("a").output)).toBe("out-a");
    expect(last.history.at(-1)).toMatchObject({ type: "STATUS_CHANGED" });
  });

  it("business failure of the first step ends the saga COMPENSATED at once with nothing to undo", () => {
    const run = new SagaRun(abc());
    run.start();
    const r = run.fail("a", "business");
    expect(r.commands).toEqual([]);
    expect(run.status).toBe("COMPENSATED");
    expect(run.statuses()).toEqual({ a: "FAILED", b: "SKIPPED", c: "SKIPPED" });
  });

  it("business failure is never retried, whatever the retry budget", () => {
    const run = new SagaRun(sagaDef([stepDef("a", { retry: retry({ maxAttempts: 100 }) }), stepDef("b")]));
    run.start();
    run.fail("a", "business");
    expect(run.step("a")).toMatchObject({ status: "FAILED", attempts: 1, nextAttemptAt: null });
  });

  it("retries exhausted on transient errors: the step itself is compensated first (its outcome is unknown)", () => {
    const run = new SagaRun(abc());
    run.start();
    run.ok("a");
    run.fail("b", "transient");
    run.at(run.step("b").nextAttemptAt as number).timer();
    run.fail("b", "transient");
    run.at(run.step("b").nextAttemptAt as number).timer();
    expect(run.step("b").attempts).toBe(3);
    const exhausted = run.fail("b", "transient", "UNAVAILABLE");
    expect(exhausted.commands).toEqual(["compensate b#1"]);
    expect(run.status).toBe("COMPENSATING");
    expect(run.state.reason).toBe("step b failed after 3 attempts: UNAVAILABLE");
    expect(run.step("b")).toMatchObject({ outcomeUnknown: true, status: "COMPENSATING" });
    expect(exhausted.history[0]).toEqual({
      type: "STEP_FAILED",
      step: "b",
      attempt: 3,
      detail: "UNAVAILABLE (after 3 attempts; outcome unknown)",
    });
    expect(run.statuses()).toMatchObject({ a: "SUCCEEDED", c: "SKIPPED" });

    expect(run.compOk("b").commands).toEqual(["compensate a#1"]);
    run.compOk("a");
    expect(run.status).toBe("COMPENSATED");
  });

  it("a timeout on the last attempt also compensates the step itself", () => {
    const run = new SagaRun(sagaDef([stepDef("a"), stepDef("b", { retry: retry({ maxAttempts: 1 }) })]));
    run.start();
    run.ok("a");
    expect(run.fail("b", "timeout").commands).toEqual(["compensate b#1"]);
    expect(run.step("a").status).toBe("SUCCEEDED"); // waits for b's compensation
    expect(run.compOk("b").commands).toEqual(["compensate a#1"]);
  });

  it("a compensated step keeps its execute error", () => {
    const run = new SagaRun(sagaDef([stepDef("a", { retry: retry({ maxAttempts: 1 }) })]));
    run.start();
    run.fail("a", "timeout", "DEADLINE_EXCEEDED");
    run.compOk("a");
    expect(run.step("a")).toMatchObject({ status: "COMPENSATED", lastError: "DEADLINE_EXCEEDED" });
  });
});

describe("compensation retries", () => {
  /** a, b done; c refused: compensating b. */
  function compensatingB(compensateRetry = retry()) {
    const run = new SagaRun(sagaDef([stepDef("a"), stepDef("b", { compensateRetry }), stepDef("c")]));
    run.start();
    run.ok("a");
    run.ok("b");
    run.fail("c", "business");
    expect(run.step("b")).toMatchObject({ status: "COMPENSATING", compensateAttempts: 1 });
    return run;
  }

  it("retries a failed compensation with backoff and goes on once it succeeds", () => {
    const run = compensatingB();
    run.after(5);
    const failed = run.compFail("b", "UNAVAILABLE");
    expect(failed.commands).toEqual([]);
    expect(failed.history).toEqual([
      { type: "COMPENSATION_RETRY_SCHEDULED", step: "b", attempt: 1, detail: "UNAVAILABLE" },
    ]);
    expect(run.step("b")).toMatchObject({
      status: "COMPENSATING",
      dispatchedAt: null,
      nextAttemptAt: T0 + 5 + 100,
      lastError: "UNAVAILABLE",
    });
    expect(run.state.nextWakeAt).toBe(T0 + 105);

    run.at(T0 + 104);
    run.expectUnchanged({ type: "timerFired" });
    run.at(T0 + 105);
    expect(run.timer().commands).toEqual(["compensate b#2"]);
    run.compFail("b");
    expect(run.step("b").nextAttemptAt).toBe(T0 + 105 + 200);
    run.at(T0 + 305);
    expect(run.timer().commands).toEqual(["compensate b#3"]);
    expect(run.compOk("b").commands).toEqual(["compensate a#1"]);
    run.compOk("a");
    expect(run.status).toBe("COMPENSATED");
  });

  it("past compensateRetry.maxAttempts the saga is FAILED; resume gives a fresh budget and finishes it", () => {
    const run = compensatingB(retry({ maxAttempts: 2 }));
    run.compFail("b");
    run.at(run.step("b").nextAttemptAt as number).timer();
    const exhausted = run.compFail("b", "still down");
    expect(exhausted.commands).toEqual([]);
    expect(run.status).toBe("FAILED");
    expect(run.state.reason).toBe(
      "compensation of b failed after 2 attempts (still down); resume it with AdminService.ResumeSaga",
    );
    expect(run.step("b")).toMatchObject({ status: "COMPENSATING", dispatchedAt: null, nextAttemptAt: null });
    expect(exhausted.history.map((h) => h.type)).toEqual(["STEP_FAILED", "STATUS_CHANGED"]);
    expect(run.state.nextWakeAt).toBeNull();
    // A FAILED saga waits for an operator: timers do nothing, a stays as it was.
    run.after(3_600_000);
    run.expectUnchanged({ type: "timerFired" });
    expect(run.step("a").status).toBe("SUCCEEDED");
    expect(run.status).toBe("FAILED");

    const resumed = run.resume("participant fixed");
    expect(resumed.commands).toEqual(["compensate b#3"]);
    expect(resumed.history[0]).toEqual({
      type: "RESUMED",
      step: "",
      attempt: 0,
      detail: "participant fixed",
    });
    expect(run.status).toBe("COMPENSATING");
    // Fresh budget: one more failure is a retry, not FAILED again.
    run.compFail("b");
    expect(run.status).toBe("COMPENSATING");
    run.at(run.step("b").nextAttemptAt as number).timer();
    expect(run.step("b").compensateAttempts).toBe(4);
    expect(run.compOk("b").commands).toEqual(["compensate a#1"]);
    run.compOk("a");
    expect(run.status).toBe("COMPENSATED");
  });

  it("after a resume the budget is maxAttempts again, then the saga is FAILED again", () => {
    const run = compensatingB(retry({ maxAttempts: 1 }));
    run.compFail("b");
    expect(run.status).toBe("FAILED");
    run.resume();
    expect(run.step("b").compensateAttempts).toBe(2);
    run.compFail("b");
    expect(run.status).toBe("FAILED");
    expect(run.state.reason).toContain("after 1 attempts");
  });

  it("resume is rejected unless the saga is FAILED", () => {
    const run = new SagaRun(abc());
    run.start();
    expect(run.expectRejected({ type: "resume", reason: "x" })).toBe(
      "only a FAILED saga can be resumed; this one is RUNNING",
    );
    run.ok("a");
    run.fail("b", "business");
    expect(run.status).toBe("COMPENSATING");
    expect(run.expectRejected({ type: "resume", reason: "x" })).toContain("this one is COMPENSATING");
    run.compOk("a");
    expect(run.expectRejected({ type: "resume", reason: "x" })).toContain("this one is COMPENSATED");
  });
});

describe("cancel", () => {
  it("cancel while a step is in flight: COMPENSATING with the client's reason; the step is undone if it succeeds", () => {
    const run = new SagaRun(abc());
    run.start();
    run.ok("a");
    const cancelled = run.cancel("customer changed their mind");
    expect(cancelled.commands).toEqual([]); // a waits for b, still in flight
    expect(run.status).toBe("COMPENSATING");
    expect(run.state.reason).toContain("customer changed their mind");
    expect(run.statuses()).toEqual({ a: "SUCCEEDED", b: "EXECUTING", c: "SKIPPED" });
    expect(cancelled.history.map((h) => h.type)).toEqual(["CANCEL_REQUESTED", "STATUS_CHANGED"]);
    expect(cancelled.history[0]?.detail).toBe("customer changed their mind");

    expect(run.ok("b").commands).toEqual(["compensate b#1"]);
    expect(run.compOk("b").commands).toEqual(["compensate a#1"]);
    run.compOk("a");
    expect(run.status).toBe("COMPENSATED");
    expect(run.statuses()).toEqual({ a: "COMPENSATED", b: "COMPENSATED", c: "SKIPPED" });
  });

  it("an in-flight step refused after the cancel is not compensated", () => {
    const run = new SagaRun(abc());
    run.start();
    run.ok("a");
    run.cancel("stop");
    expect(run.fail("b", "business").commands).toEqual(["compensate a#1"]);
    expect(run.step("b").status).toBe("FAILED");
  });

  it("an in-flight step failing transiently after the cancel is not retried but compensated", () => {
    const run = new SagaRun(abc());
    run.start();
    run.ok("a");
    run.cancel("stop");
    const r = run.fail("b", "transient", "UNAVAILABLE");
    expect(r.commands).toEqual(["compensate b#1"]);
    expect(r.history[0]?.detail).toContain("while the saga was compensating");
    expect(run.step("b")).toMatchObject({ attempts: 1, outcomeUnknown: true });
  });

  it("a step in RETRY_WAIT when compensation begins is compensated, not retried", () => {
    const run = new SagaRun(abc());
    run.start();
    run.ok("a");
    run.fail("b", "transient");
    const cancelled = run.cancel("stop");
    expect(cancelled.commands).toEqual(["compensate b#1"]);
    expect(run.step("b")).toMatchObject({ status: "COMPENSATING", attempts: 1, outcomeUnknown: true });
    // Its retry time passing does not execute it again.
    run.after(500);
    run.expectUnchanged({ type: "timerFired" });
    expect(run.compOk("b").commands).toEqual(["compensate a#1"]);
  });

  it("cancel before anything was dispatched skips every step and ends COMPENSATED", () => {
    const def = abc();
    const run = new SagaRun(def, { state: initialState(def) });
    run.cancel("never mind");
    expect(run.status).toBe("COMPENSATED");
    expect(run.statuses()).toEqual({ a: "SKIPPED", b: "SKIPPED", c: "SKIPPED" });
  });

  it("cancel of a COMPENSATING saga is unchanged; of a COMPLETED or COMPENSATED saga it is rejected", () => {
    const run = new SagaRun(abc());
    run.start();
    run.ok("a");
    run.fail("b", "business");
    expect(run.status).toBe("COMPENSATING");
    run.expectUnchanged({ type: "cancel", reason: "again" });
    run.compOk("a");
    expect(run.expectRejected({ type: "cancel", reason: "x" })).toBe(
      "saga has already ended (status COMPENSATED)",
    );

    const done = new SagaRun(sagaDef([stepDef("a")]));
    done.start();
    done.ok("a");
    expect(done.expectRejected({ type: "cancel", reason: "x" })).toBe(
      "saga has already ended (status COMPLETED)",
    );
  });

  it("cancel of a FAILED saga is rejected and points at resume", () => {
    const run = new SagaRun(
      sagaDef([stepDef("a", { compensateRetry: retry({ maxAttempts: 1 }) }), stepDef("b")]),
    );
    run.start();
    run.ok("a");
    run.fail("b", "business");
    run.compFail("a");
    expect(run.status).toBe("FAILED");
    expect(run.expectRejected({ type: "cancel", reason: "x" })).toContain("ResumeSaga");
  });

  it("an empty cancel reason still gives a reason", () => {
    const run = new SagaRun(abc());
    run.start();
    run.cancel("");
    expect(run.state.reason).toBe("cancelled");
  });
});

describe("saga deadline", () => {
  const slow = { timeoutMs: 60_000 };
  const deadlineAt = T0 + 10_000;
  const def = () => sagaDef([stepDef("a", slow), stepDef("b", slow), stepDef("c", slow)], { deadlineAt });

  it("is part of nextWakeAt while running", () => {
    const run = new SagaRun(def());
    run.start();
    expect(run.state.nextWakeAt).toBe(deadlineAt);
  });

  it("timerFired at the deadline compensates with reason 'deadline exceeded'; before it, nothing", () => {
    const run = new SagaRun(def());
    run.start();
    run.ok("a");
    run.at(deadlineAt - 1);
    run.expectUnchanged({ type: "timerFired" });
    expect(run.status).toBe("RUNNING");

    run.at(deadlineAt);
    const r = run.timer();
    expect(run.status).toBe("COMPENSATING");
    expect(run.state.reason).toBe("deadline exceeded");
    expect(r.commands).toEqual([]); // b is still in flight; a waits for it
    expect(run.statuses()).toEqual({ a: "SUCCEEDED", b: "EXECUTING", c: "SKIPPED" });
    // The deadline no longer counts once compensating: only b's call is watched.
    expect(run.state.nextWakeAt).toBe(T0 + 60_000 + GRACE_MS);

    run.fail("b", "business");
    expect(run.step("a").status).toBe("COMPENSATING");
  });

  it("timerFired well after the deadline compensates too, including a step waiting to retry", () => {
    const run = new SagaRun(def());
    run.start();
    run.ok("a");
    run.fail("b", "transient");
    run.at(deadlineAt + 50_000);
    expect(run.timer().commands).toEqual(["compensate b#1"]);
    expect(run.state.reason).toBe("deadline exceeded");
  });

  it("a result arriving after the deadline is still applied; the next timer compensates", () => {
    const run = new SagaRun(def());
    run.start();
    run.at(deadlineAt + 1);
    expect(run.ok("a").commands).toEqual(["execute b#1"]);
    run.timer();
    expect(run.status).toBe("COMPENSATING");
  });
});

describe("recover (a node took the saga over)", () => {
  it("re-dispatches every in-flight execute with the same attempt number", () => {
    const run = new SagaRun(abc());
    run.start();
    run.fail("a", "transient");
    run.at(run.step("a").nextAttemptAt as number).timer();
    expect(run.step("a").attempts).toBe(2);

    run.at(T0 + 2_000);
    const r = run.recover();
    expect(r.rawCommands).toEqual([{ type: "dispatchExecute", step: "a", attempt: 2 }]);
    expect(r.history).toEqual([
      { type: "STEP_DISPATCHED", step: "a", attempt: 2, detail: "re-sent after coordinator takeover" },
    ]);
    expect(run.step("a")).toMatchObject({ status: "EXECUTING", attempts: 2, dispatchedAt: T0 + 2_000 });
    expect(run.state.nextWakeAt).toBe(lostAt(T0 + 2_000));
    // The answer to that same attempt is accepted.
    expect(run.ok("a").commands).toEqual(["execute b#1"]);
  });

  it("re-dispatches an in-flight compensation with the same attempt number", () => {
    const run = new SagaRun(abc());
    run.start();
    run.ok("a");
    run.fail("b", "business");
    run.compFail("a");
    run.at(run.step("a").nextAttemptAt as number).timer();
    expect(run.recover().commands).toEqual(["compensate a#2"]);
    expect(run.step("a").compensateAttempts).toBe(2);
  });

  it("does not re-send anything that is not in flight, but does dispatch what is due", () => {
    const run = new SagaRun(abc());
    run.start();
    run.fail("a", "transient");
    run.expectUnchanged({ type: "recover" }); // a waits for its retry
    run.at(run.step("a").nextAttemptAt as number);
    expect(run.recover().commands).toEqual(["execute a#2"]); // due: dispatched once, as attempt 2
  });

  it("re-sends nothing for a finished saga", () => {
    const run = new SagaRun(sagaDef([stepDef("a")]));
    run.start();
    run.ok("a");
    run.expectUnchanged({ type: "recover" });
    expect(run.status).toBe("COMPLETED");
  });
});

describe("timerFired re-sends calls presumed lost", () => {
  it("only once dispatchedAt + timeoutMs + lostCallGraceMs has been reached, with the same attempt", () => {
    const run = new SagaRun(abc());
    run.start();
    const due = lostAt(T0);
    expect(run.state.nextWakeAt).toBe(due);

    run.at(due - 1);
    run.expectUnchanged({ type: "timerFired" });
    expect(run.step("a").dispatchedAt).toBe(T0);

    run.at(due);
    const r = run.timer();
    expect(r.commands).toEqual(["execute a#1"]);
    expect(r.history[0]).toEqual({
      type: "STEP_DISPATCHED",
      step: "a",
      attempt: 1,
      detail: "re-sent: no answer within the step timeout",
    });
    expect(run.step("a")).toMatchObject({ attempts: 1, dispatchedAt: due });
    expect(run.state.nextWakeAt).toBe(lostAt(due));
    // Not again until another full window has passed.
    run.after(STEP_TIMEOUT_MS);
    run.expectUnchanged({ type: "timerFired" });
  });

  it("uses each step's own timeout", () => {
    const run = new SagaRun(sagaDef([stepDef("a", { timeoutMs: 20_000 })]));
    run.start();
    expect(run.state.nextWakeAt).toBe(T0 + 20_000 + GRACE_MS);
    run.at(lostAt(T0));
    run.expectUnchanged({ type: "timerFired" });
    run.at(T0 + 20_000 + GRACE_MS);
    expect(run.timer().commands).toEqual(["execute a#1"]);
  });

  it("re-sends a lost compensation call too", () => {
    const run = new SagaRun(abc());
    run.start();
    run.ok("a");
    run.fail("b", "business");
    run.at(lostAt(run.now));
    expect(run.timer().commands).toEqual(["compensate a#1"]);
  });

  it("keeps watching in-flight calls of a FAILED saga", () => {
    // a and b run in parallel; a's compensation fails for good while b is still executing.
    const def = sagaDef([
      stepDef("a", { compensateRetry: retry({ maxAttempts: 1 }) }),
      stepDef("b"),
      stepDef("c", { dependsOn: ["a", "b"] }),
      stepDef("x", { dependsOn: ["a"] }),
    ]);
    const run = new SagaRun(def);
    run.start();
    run.ok("a"); // x dispatched
    run.at(T0 + 100);
    run.fail("x", "business"); // compensate a (b is independent of a)
    run.compFail("a");
    expect(run.status).toBe("FAILED");
    expect(run.step("b").status).toBe("EXECUTING");
    expect(run.state.nextWakeAt).toBe(lostAt(T0));
    run.at(lostAt(T0));
    expect(run.timer().commands).toEqual(["execute b#1"]);
  });
});

describe("the input state is never mutated", () => {
  it("leaves a deep copy of every input state equal to it after each transition", () => {
    const def = sagaDef([stepDef("a"), stepDef("b"), stepDef("c")], { deadlineAt: T0 + 100_000 });
    let state = initialState(def);
    let now = T0;
    const inputs = [
      { type: "start" },
      { type: "executeSucceeded", step: "a", attempt: 1, output: new Uint8Array([7]) },
      { type: "executeFailed", step: "b", attempt: 1, failure: "transient", error: "x" },
      { type: "timerFired" },
      { type: "recover" },
      { type: "cancel", reason: "stop" },
      { type: "executeSucceeded", step: "b", attempt: 2, output: new Uint8Array([8]) },
      { type: "compensateFailed", step: "b", attempt: 1, error: "y" },
      { type: "timerFired" },
      { type: "compensateSucceeded", step: "b", attempt: 2 },
      { type: "compensateSucceeded", step: "a", attempt: 1 },
    ] as const;
    for (const input of inputs) {
      now += 1_000;
      const before = structuredClone(state);
      const result = transition(def, state, input, testContext(now));
      expect(state).toEqual(before);
      if (result.kind === "changed") {
        expect(result.state).not.toBe(state);
        state = result.state;
      }
    }
    expect(state.status).toBe("COMPENSATED");
  });

  it("works on deep-frozen states (a mutation would throw) and shares untouched step objects", () => {
    const run = new SagaRun(abc()); // SagaRun deep-freezes every state it hands to the engine
    const initial = run.state;
    expect(Object.isFrozen(initial.steps.a)).toBe(true);
    run.start();
    expect(initial.steps.a?.status).toBe("PENDING");
    const before = run.state;
    run.ok("a");
    expect(before.steps.a?.status).toBe("EXECUTING");
    expect(run.state.steps.c).toBe(before.steps.c); // untouched step: same object
    expect(run.state.steps.a).not.toBe(before.steps.a);
  });

  it("does not touch the state when the input is rejected or ignored", () => {
    const def = sagaDef([stepDef("a")]);
    const run = new SagaRun(def);
    run.start();
    run.ok("a");
    const before = structuredClone(run.state);
    run.expectRejected({ type: "cancel", reason: "x" });
    run.expectRejected({ type: "resume", reason: "x" });
    run.expectUnchanged({ type: "executeSucceeded", step: "a", attempt: 1, output: new Uint8Array() });
    expect(run.state).toEqual(before);
  });
});

describe("review fixes", () => {
  it("compensates a step refused by a business failure after an attempt without an answer", () => {
    const run = new SagaRun(sagaDef([stepDef("a"), stepDef("b", { retry: retry({ maxAttempts: 3 }) })]));
    run.start();
    run.ok("a");
    run.fail("b", "timeout");
    run.at(run.step("b").nextAttemptAt as number);
    expect(run.timer().commands).toEqual(["execute b#2"]);
    // The first attempt may have gone through; the refusal does not prove otherwise.
    expect(run.fail("b", "business").commands).toEqual(["compensate b#1"]);
    expect(run.step("b")).toMatchObject({ status: "COMPENSATING", outcomeUnknown: true });
  });

  it("does not compensate a step whose only answer was a business failure", () => {
    const run = new SagaRun(sagaDef([stepDef("a"), stepDef("b")]));
    run.start();
    run.ok("a");
    expect(run.fail("b", "business").commands).toEqual(["compensate a#1"]);
    expect(run.step("b")).toMatchObject({ status: "FAILED", outcomeUnknown: false });
  });

  it("restarts the backoff after an operator resume", () => {
    const run = new SagaRun(
      sagaDef([stepDef("a", { compensateRetry: retry({ maxAttempts: 2 }) }), stepDef("b")]),
    );
    run.start();
    run.ok("a");
    run.fail("b", "business");
    run.compFail("a");
    const firstWait = (run.step("a").nextAttemptAt as number) - run.now;
    run.at(run.step("a").nextAttemptAt as number);
    expect(run.timer().commands).toEqual(["compensate a#2"]);
    run.compFail("a");
    expect(run.status).toBe("FAILED");
    expect(run.resume().commands).toEqual(["compensate a#3"]);
    run.compFail("a");
    expect((run.step("a").nextAttemptAt as number) - run.now).toBe(firstWait);
  });

  it("ignores a repeated start", () => {
    const run = new SagaRun(abc());
    run.start();
    run.expectUnchanged({ type: "start" });
  });
});

describe("a saga stored but never started", () => {
  it("is started by its timer, once", () => {
    const run = new SagaRun(abc());
    const started = run.timer();
    expect(started.commands).toEqual(["execute a#1"]);
    expect(run.historyOf("SAGA_STARTED")).toHaveLength(1);
    run.expectUnchanged({ type: "start" });
  });
});
