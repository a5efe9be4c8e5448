import { describe, expect, it } from "vitest";
import type { SagaDefinition } from "./saga-definition.js";
import { sagaGraph } from "./saga-graph.js";
import type { FailureKind } from "./saga-input.js";
import type { StepStatus } from "./saga-state.js";
import { GRACE_MS, retry, SagaRun, STEP_TIMEOUT_MS, sagaDef, stepDef, T0 } from "./test-support.js";

// DAG sagas (depends_on given): parallel dispatch, joins, and compensation in
// reverse dependency order.

describe("DAG saga: forward execution", () => {
  it("dispatches independent steps together in one transition and lets a join wait for all its dependencies", () => {
    const run = new SagaRun(
      sagaDef([
        stepDef("a"),
        stepDef("b"),
        stepDef("join", { dependsOn: ["a", "b"] }),
        stepDef("tail", { dependsOn: ["join"] }),
      ]),
    );
    expect(run.start().commands).toEqual(["execute a#1", "execute b#1"]);
    expect(run.statuses()).toEqual({ a: "EXECUTING", b: "EXECUTING", join: "PENDING", tail: "PENDING" });

    expect(run.ok("b").commands).toEqual([]); // join still waits for a
    expect(run.step("join").status).toBe("PENDING");
    expect(run.ok("a").commands).toEqual(["execute join#1"]);
    expect(run.ok("join").commands).toEqual(["execute tail#1"]);
    run.ok("tail");
    expect(run.status).toBe("COMPLETED");
  });

  it("fans out: every step depending on a finished step is dispatched in the same transition", () => {
    const run = new SagaRun(
      sagaDef([
        stepDef("a"),
        stepDef("b", { dependsOn: ["a"] }),
        stepDef("c", { dependsOn: ["a"] }),
        stepDef("d", { dependsOn: ["a"] }),
      ]),
    );
    expect(run.start().commands).toEqual(["execute a#1"]);
    expect(run.ok("a").commands).toEqual(["execute b#1", "execute c#1", "execute d#1"]);
  });

  it("takes depends_on as written: a step without depends_on in a DAG saga is a root, and list order does not matter", () => {
    const run = new SagaRun(
      sagaDef([stepDef("join", { dependsOn: ["y", "x"] }), stepDef("y"), stepDef("x"), stepDef("lone")]),
    );
    expect(run.start().commands).toEqual(["execute y#1", "execute x#1", "execute lone#1"]);
    run.ok("x");
    run.ok("lone");
    expect(run.ok("y").commands).toEqual(["execute join#1"]);
  });

  it("a join waits while one dependency is retrying and runs once it succeeds", () => {
    const run = new SagaRun(sagaDef([stepDef("a"), stepDef("b"), stepDef("c", { dependsOn: ["a", "b"] })]));
    run.start();
    run.fail("a", "transient");
    expect(run.ok("b").commands).toEqual([]);
    run.at(run.step("a").nextAttemptAt as number);
    expect(run.timer().commands).toEqual(["execute a#2"]);
    expect(run.ok("a").commands).toEqual(["execute c#1"]);
  });

  it("nextWakeAt is the earliest timer over all parallel steps", () => {
    const run = new SagaRun(
      sagaDef([stepDef("a"), stepDef("b"), stepDef("c"), stepDef("d", { dependsOn: ["a", "b", "c"] })]),
    );
    run.start();
    expect(run.state.nextWakeAt).toBe(T0 + STEP_TIMEOUT_MS + GRACE_MS);
    run.at(T0 + 10);
    run.fail("a", "transient"); // retry at T0 + 110
    expect(run.state.nextWakeAt).toBe(T0 + 110);
    run.at(T0 + 20);
    run.fail("b", "transient"); // retry at T0 + 120
    expect(run.state.nextWakeAt).toBe(T0 + 110);
    run.at(T0 + 110);
    expect(run.timer().commands).toEqual(["execute a#2"]);
    expect(run.state.nextWakeAt).toBe(T0 + 120);
    run.at(T0 + 120);
    expect(run.timer().commands).toEqual(["execute b#2"]);
    // Now only calls in flight: c (dispatched at T0) is the first to be overdue.
    expect(run.state.nextWakeAt).toBe(T0 + STEP_TIMEOUT_MS + GRACE_MS);
  });

  it("recover re-dispatches every in-flight call, each with its own attempt number", () => {
    const run = new SagaRun(
      sagaDef([stepDef("a"), stepDef("b"), stepDef("c"), stepDef("j", { dependsOn: ["a", "b", "c"] })]),
    );
    run.start();
    run.fail("b", "transient");
    run.at(run.step("b").nextAttemptAt as number).timer();
    run.ok("c");
    expect(run.recover().commands).toEqual(["execute a#1", "execute b#2"]);
  });
});

describe("DAG saga: compensation in reverse dependency order", () => {
  it("diamond: both branches are undone in parallel, their common root only after both", () => {
    const run = new SagaRun(
      sagaDef([
        stepDef("a"),
        stepDef("b", { dependsOn: ["a"] }),
        stepDef("c", { dependsOn: ["a"] }),
        stepDef("d", { dependsOn: ["b", "c"] }),
        stepDef("e", { dependsOn: ["d"] }),
      ]),
    );
    run.start();
    run.ok("a");
    run.ok("b");
    run.ok("c");
    expect(run.fail("d", "business").commands).toEqual(["compensate b#1", "compensate c#1"]);
    expect(run.statuses()).toEqual({
      a: "SUCCEEDED",
      b: "COMPENSATING",
      c: "COMPENSATING",
      d: "FAILED",
      e: "SKIPPED",
    });
    expect(run.compOk("b").commands).toEqual([]); // a still waits for c
    expect(run.step("a").status).toBe("SUCCEEDED");
    expect(run.compOk("c").commands).toEqual(["compensate a#1"]);
    run.compOk("a");
    expect(run.status).toBe("COMPENSATED");
  });

  it("independent branches compensate in parallel: one branch's backoff does not hold the other", () => {
    const run = new SagaRun(
      sagaDef([
        stepDef("a"),
        stepDef("b", { dependsOn: ["a"] }),
        stepDef("c"),
        stepDef("d", { dependsOn: ["c"] }),
        stepDef("e", { dependsOn: ["b", "d"] }),
      ]),
    );
    run.start();
    run.ok("a");
    run.ok("c");
    run.ok("b");
    run.ok("d");
    expect(run.fail("e", "business").commands).toEqual(["compensate b#1", "compensate d#1"]);

    run.compFail("d"); // d backs off
    expect(run.compOk("b").commands).toEqual(["compensate a#1"]); // a goes ahead regardless of d
    run.compOk("a");
    expect(run.status).toBe("COMPENSATING");
    expect(run.step("c").status).toBe("SUCCEEDED"); // c waits for d
    run.at(run.step("d").nextAttemptAt as number);
    expect(run.timer().commands).toEqual(["compensate d#2"]);
    expect(run.compOk("d").commands).toEqual(["compensate c#1"]);
    run.compOk("c");
    expect(run.status).toBe("COMPENSATED");
  });

  it("a step is not compensated while a step depending on it is still in flight", () => {
    const run = new SagaRun(
      sagaDef([stepDef("a"), stepDef("b", { dependsOn: ["a"] }), stepDef("c", { dependsOn: ["a"] })]),
    );
    run.start();
    run.ok("a");
    expect(run.fail("c", "business").commands).toEqual([]); // b is in flight
    expect(run.status).toBe("COMPENSATING");
    expect(run.ok("b").commands).toEqual(["compensate b#1"]); // succeeded during compensation: undone
    expect(run.step("a").status).toBe("SUCCEEDED");
    expect(run.compOk("b").commands).toEqual(["compensate a#1"]);
    run.compOk("a");
    expect(run.statuses()).toEqual({ a: "COMPENSATED", b: "COMPENSATED", c: "FAILED" });
  });

  it("an in-flight parallel step that succeeds during compensation is then compensated", () => {
    const run = new SagaRun(sagaDef([stepDef("a"), stepDef("b"), stepDef("c", { dependsOn: ["a", "b"] })]));
    run.start();
    const failed = run.fail("a", "business");
    expect(failed.commands).toEqual([]);
    expect(run.status).toBe("COMPENSATING"); // not COMPENSATED while b may still take effect
    expect(run.state.nextWakeAt).toBe(T0 + STEP_TIMEOUT_MS + GRACE_MS); // b's call is watched
    expect(run.ok("b", "late-output").commands).toEqual(["compensate b#1"]);
    run.compOk("b");
    expect(run.status).toBe("COMPENSATED");
    expect(run.statuses()).toEqual({ a: "FAILED", b: "COMPENSATED", c: "SKIPPED" });
  });

  it("an in-flight parallel step refused during compensation is not compensated", () => {
    const run = new SagaRun(sagaDef([stepDef("a"), stepDef("b"), stepDef("c", { dependsOn: ["a", "b"] })]));
    run.start();
    run.fail("a", "business");
    expect(run.fail("b", "business").commands).toEqual([]);
    expect(run.status).toBe("COMPENSATED");
    expect(run.state.reason).toContain("step a failed"); // the first failure stays the reason
  });

  it("an in-flight parallel step failing transiently during compensation is compensated instead of retried", () => {
    const run = new SagaRun(
      sagaDef([
        stepDef("a"),
        stepDef("b", { retry: retry({ maxAttempts: 10 }) }),
        stepDef("c", { dependsOn: ["a", "b"] }),
      ]),
    );
    run.start();
    run.fail("a", "business");
    expect(run.fail("b", "timeout").commands).toEqual(["compensate b#1"]);
    expect(run.step("b")).toMatchObject({ attempts: 1, outcomeUnknown: true });
  });

  it("a parallel step in RETRY_WAIT when another fails is compensated in the same transition", () => {
    const run = new SagaRun(sagaDef([stepDef("a"), stepDef("b"), stepDef("c", { dependsOn: ["a", "b"] })]));
    run.start();
    run.fail("a", "transient");
    expect(run.step("a").status).toBe("RETRY_WAIT");
    const r = run.fail("b", "business");
    expect(r.commands).toEqual(["compensate a#1"]);
    expect(run.step("a")).toMatchObject({ status: "COMPENSATING", attempts: 1, nextAttemptAt: null });
    run.compOk("a");
    expect(run.status).toBe("COMPENSATED");
  });

  it("a step whose retries ran out is compensated before the steps it depends on", () => {
    const run = new SagaRun(
      sagaDef([
        stepDef("a"),
        stepDef("b"),
        stepDef("c", { dependsOn: ["a", "b"], retry: retry({ maxAttempts: 1 }) }),
      ]),
    );
    run.start();
    run.ok("a");
    run.ok("b");
    expect(run.fail("c", "transient").commands).toEqual(["compensate c#1"]);
    expect(run.compOk("c").commands).toEqual(["compensate a#1", "compensate b#1"]);
  });
});

// A property check over one larger DAG: for every step, and for each way it
// can fail, drive the saga (answering calls first in, first out, so parallel
// branches are still running when the failure happens) and check the
// compensation order at every dispatch and the end state.
describe("DAG saga: compensation order, exhaustively over failure points", () => {
  //   a ── b ── d ─────────┐
  //    └── c ─┐            h
  //        b ─┴ e ─┐       │
  //   f ───────────┴ g ────┘
  const bigDag = (failing: string, kind: FailureKind): SagaDefinition =>
    sagaDef(
      [
        ["a", []],
        ["b", ["a"]],
        ["c", ["a"]],
        ["d", ["b"]],
        ["e", ["b", "c"]],
        ["f", []],
        ["g", ["f", "e"]],
        ["h", ["d", "g"]],
      ].map(([name, deps]) =>
        stepDef(name as string, {
          dependsOn: deps as string[],
          retry: retry({ maxAttempts: name === failing && kind !== "business" ? 1 : 3 }),
        }),
      ),
    );
  const SETTLED: ReadonlySet<StepStatus> = new Set(["COMPENSATED", "SKIPPED", "FAILED"]);

  const cases = ["a", "b", "c", "d", "e", "f", "g", "h"].flatMap((step) =>
    (["business", "transient", "timeout"] as const).map((kind) => [step, kind] as const),
  );

  it.each(cases)("step %s fails (%s)", (failing, kind) => {
    const def = bigDag(failing, kind);
    const dependents = sagaGraph(def).dependents;
    const run = new SagaRun(def);
    const queue = [...run.start().commands];
    const compensations: string[] = [];

    while (queue.length > 0) {
      const command = queue.shift() as string;
      const [phase, target] = command.split(" ") as [string, string];
      const step = target.split("#")[0] as string;
      let next: string[];
      if (phase === "execute")
        next = step === failing ? run.fail(step, kind).commands : run.ok(step).commands;
      else next = run.compOk(step).commands;
      for (const c of next) {
        if (c.startsWith("compensate ")) {
          const name = c.slice("compensate ".length).split("#")[0] as string;
          compensations.push(c);
          // Everything built on this step is settled: compensated, skipped, or failed for good.
          for (const dep of dependents.get(name) ?? []) {
            const s = run.step(dep);
            expect(SETTLED.has(s.status), `${name} compensated while ${dep} is ${s.status}`).toBe(true);
            if (s.status === "FAILED") expect(s.outcomeUnknown).toBe(false);
          }
        }
      }
      queue.push(...next);
    }

    expect(run.status).toBe("COMPENSATED");
    // Every step compensated at most once, with attempt 1 (no answer was lost here).
    expect(new Set(compensations).size).toBe(compensations.length);
    expect(compensations.every((c) => c.endsWith("#1"))).toBe(true);
    for (const d of def.steps) {
      const s = run.step(d.name);
      if (d.name === failing) {
        expect(s.status).toBe(kind === "business" ? "FAILED" : "COMPENSATED");
      } else if (s.attempts === 0) {
        expect(s.status).toBe("SKIPPED");
      } else {
        // Every step that ran (including ones still in flight when the failure happened) is undone.
        expect(s.status).toBe("COMPENSATED");
      }
    }
    // Nothing depending on the failing step ever ran.
    const downstream = (name: string): string[] =>
      (dependents.get(name) ?? []).flatMap((n) => [n, ...downstream(n)]);
    for (const n of downstream(failing)) expect(run.step(n).attempts).toBe(0);
  });
});
