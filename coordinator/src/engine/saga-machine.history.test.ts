import { describe, expect, it } from "vitest";
import { compactedAttempts, FULL_HISTORY_ATTEMPTS } from "./attempt-history.js";
import { retry, SagaRun, sagaDef, stepDef } from "./test-support.js";

// Bounded history: a RETRIABLE step is retried forever and a compensation may
// have up to 1000 attempts, so past FULL_HISTORY_ATTEMPTS attempts of a phase
// the history keeps one marker per doubling, while the step state keeps the
// count and the last error (GetSaga shows both).

const POWERS_OF_TWO_PAST_THE_CAP = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192];
const firstTen = (step: string) =>
  Array.from({ length: FULL_HISTORY_ATTEMPTS }, (_, i) => `${step}#${i + 1}`);

/** charge (pivot) -> ship (retriable). */
function shipping(): SagaRun {
  const run = new SagaRun(
    sagaDef([stepDef("charge", { kind: "pivot" }), stepDef("ship", { kind: "retriable" })]),
  );
  run.start();
  run.ok("charge");
  return run;
}

/** Fails the step's in-flight Execute `count` times, firing the retry timer after each. */
function failExecute(run: SagaRun, step: string, count: number): void {
  for (let i = 0; i < count; i++) {
    run.fail(step, "transient", `UNAVAILABLE: try ${run.step(step).attempts}`);
    run.at(run.step(step).nextAttemptAt as number);
    expect(run.timer().rawCommands).toHaveLength(1);
  }
}

describe("compactedAttempts", () => {
  it("covers the attempts since the previous marker, on powers of two past the cap only", () => {
    expect(FULL_HISTORY_ATTEMPTS).toBe(10);
    expect(compactedAttempts(10)).toBeNull();
    expect(compactedAttempts(11)).toBeNull();
    expect(compactedAttempts(16)).toEqual({ first: 11, last: 16 });
    expect(compactedAttempts(17)).toBeNull();
    expect(compactedAttempts(32)).toEqual({ first: 17, last: 32 });
    expect(compactedAttempts(2 ** 40)).toEqual({ first: 2 ** 39 + 1, last: 2 ** 40 });
  });
});

describe("bounded history of a RETRIABLE step retried forever", () => {
  it("10,000 failed attempts leave 10 entries per kind plus one marker per doubling; the state keeps count and error", () => {
    const run = shipping();
    const before = run.history.length;
    failExecute(run, "ship", 10_000);

    expect(run.historyOf("STEP_DISPATCHED").filter((e) => e.startsWith("ship"))).toEqual(firstTen("ship"));
    expect(run.historyOf("STEP_RETRY_SCHEDULED")).toEqual([
      ...firstTen("ship"),
      ...POWERS_OF_TWO_PAST_THE_CAP.map((n) => `ship#${n}`),
    ]);
    // ship#1's dispatch was recorded before; its 10,000 failures and 10,000 retries added only these:
    expect(run.history.length - before).toBe(
      2 * FULL_HISTORY_ATTEMPTS - 1 + POWERS_OF_TWO_PAST_THE_CAP.length,
    );
    expect(run.step("ship")).toMatchObject({
      status: "EXECUTING",
      attempts: 10_001,
      lastError: "UNAVAILABLE: try 10000",
    });

    run.ok("ship");
    expect(run.status).toBe("COMPLETED");
    expect(run.history.at(-2)).toEqual({ type: "STEP_SUCCEEDED", step: "ship", attempt: 10_001, detail: "" });
  });

  it("a marker says which attempts it stands for and carries the last error", () => {
    const run = shipping();
    failExecute(run, "ship", 16);
    const marker = run.history.filter((h) => h.type === "STEP_RETRY_SCHEDULED").at(-1);
    expect(marker).toEqual({
      type: "STEP_RETRY_SCHEDULED",
      step: "ship",
      attempt: 16,
      detail:
        "UNAVAILABLE: try 16 (attempts 11..16 failed; their history entries are compacted into this one)",
    });
  });

  it("an attempt past the cap still changes the saga (a write) although it adds no entry", () => {
    const run = shipping();
    failExecute(run, "ship", 11);
    const failed = run.fail("ship", "transient", "UNAVAILABLE: down");
    expect(failed.history).toEqual([]);
    expect(failed.state.steps.ship).toMatchObject({
      status: "RETRY_WAIT",
      attempts: 12,
      lastError: "UNAVAILABLE: down",
    });
    run.at(run.step("ship").nextAttemptAt as number);
    const retried = run.timer();
    expect(retried.commands).toEqual(["execute ship#13"]);
    expect(retried.history).toEqual([]);
  });

  it("a call re-sent past the cap (lost answer) is re-sent without an entry", () => {
    const run = shipping();
    failExecute(run, "ship", 20);
    run.after(60_000);
    const resent = run.timer();
    expect(resent.commands).toEqual(["execute ship#21"]);
    expect(resent.history).toEqual([]);
  });

  it("after an operator resume, the first attempts of the new budget are recorded in full again", () => {
    const run = shipping();
    failExecute(run, "ship", 40);
    run.fail("ship", "business", "FAILED_PRECONDITION: address unknown");
    expect(run.status).toBe("FAILED");
    const resumed = run.resume();
    expect(resumed.history.map((h) => `${h.type} ${h.step}#${h.attempt}`)).toEqual([
      "RESUMED #0",
      "STEP_DISPATCHED ship#42",
      "STATUS_CHANGED #0",
    ]);
    run.fail("ship", "transient");
    expect(run.historyOf("STEP_RETRY_SCHEDULED").at(-1)).toBe("ship#42");
  });
});

describe("bounded history of a long compensation", () => {
  it("1000 compensation attempts (the largest budget) leave a bounded history, then FAILED with the count", () => {
    const run = new SagaRun(
      sagaDef([stepDef("a", { compensateRetry: retry({ maxAttempts: 1000 }) }), stepDef("b")]),
    );
    run.start();
    run.ok("a");
    run.fail("b", "business");
    for (let i = 1; i < 1000; i++) {
      run.compFail("a", `UNAVAILABLE: refunds down ${i}`);
      run.at(run.step("a").nextAttemptAt as number);
      expect(run.timer().commands).toEqual([`compensate a#${i + 1}`]);
    }
    run.compFail("a", "UNAVAILABLE: refunds down 1000");
    expect(run.status).toBe("FAILED");
    expect(run.step("a")).toMatchObject({
      compensateAttempts: 1000,
      lastError: "UNAVAILABLE: refunds down 1000",
    });
    expect(run.historyOf("COMPENSATION_DISPATCHED")).toEqual(firstTen("a"));
    expect(run.historyOf("COMPENSATION_RETRY_SCHEDULED")).toEqual([
      ...firstTen("a"),
      ...[16, 32, 64, 128, 256, 512].map((n) => `a#${n}`),
    ]);
    expect(run.historyOf("STEP_FAILED")).toEqual(["b#1", "a#1000"]);
    expect(run.history.length).toBeLessThan(50);
  });
});
