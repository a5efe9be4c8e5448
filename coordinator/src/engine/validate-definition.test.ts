import { describe, expect, it } from "vitest";
import type { SagaDefinition, StepDefinition } from "./saga-definition.js";
import { retry, sagaDef, stepDef, T0 } from "./test-support.js";
import { DEFAULT_LIMITS, type DefinitionLimits, validateDefinition } from "./validate-definition.js";

const NOW = T0;
const HOUR = 3_600_000;

function check(def: SagaDefinition, limits: DefinitionLimits = DEFAULT_LIMITS): string | null {
  return validateDefinition(def, limits, NOW);
}

/** A definition with steps a, b, c in list order, plus overrides for one step. */
function withStep(index: number, overrides: Partial<StepDefinition>): SagaDefinition {
  const steps = ["a", "b", "c"].map((n) => stepDef(n));
  steps[index] = { ...(steps[index] as StepDefinition), ...overrides };
  return sagaDef(steps);
}

describe("validateDefinition: accepted definitions", () => {
  it("accepts a plain sequential saga", () => {
    expect(check(withStep(0, {}))).toBeNull();
  });

  it("accepts a DAG, a pivot with retriable steps after it, labels and a future deadline", () => {
    const def = sagaDef(
      [
        stepDef("reserve"),
        stepDef("auth"),
        stepDef("charge", { kind: "pivot", dependsOn: ["reserve", "auth"] }),
        stepDef("ship", { kind: "retriable", dependsOn: ["charge"] }),
        stepDef("email", { kind: "retriable", dependsOn: ["charge"] }),
        stepDef("close", { kind: "retriable", dependsOn: ["ship", "email"] }),
      ],
      { labels: { tenant: "acme", "app.kubernetes.io/name": "shop" }, deadlineAt: NOW + 1 },
    );
    expect(check(def)).toBeNull();
  });

  it("accepts a sequential saga with the pivot in list order (compensatable, pivot, retriable)", () => {
    const def = sagaDef([
      stepDef("a"),
      stepDef("b"),
      stepDef("p", { kind: "pivot" }),
      stepDef("r1", { kind: "retriable" }),
      stepDef("r2", { kind: "retriable" }),
    ]);
    expect(check(def)).toBeNull();
  });

  it("accepts a pivot alone, and a pivot as the first step followed by retriable steps", () => {
    expect(check(sagaDef([stepDef("p", { kind: "pivot" })]))).toBeNull();
    expect(check(sagaDef([stepDef("p", { kind: "pivot" }), stepDef("r", { kind: "retriable" })]))).toBeNull();
  });

  it("accepts the exact boundaries of every range", () => {
    const limits: DefinitionLimits = { ...DEFAULT_LIMITS, maxSteps: 2, maxPayloadBytes: 4, maxLabels: 1 };
    const def = sagaDef(
      [
        stepDef("x".repeat(64), {
          payload: new Uint8Array(4),
          timeoutMs: 1,
          participant: "p".repeat(256),
          contentType: "c".repeat(128),
          retry: retry({ maxAttempts: 1, initialBackoffMs: 10, maxBackoffMs: 10, multiplier: 1, jitter: 0 }),
          compensateRetry: retry({
            maxAttempts: 1000,
            initialBackoffMs: HOUR,
            maxBackoffMs: HOUR,
            multiplier: 10,
            jitter: 1,
          }),
        }),
        stepDef("b", { timeoutMs: HOUR, payload: new Uint8Array(0) }),
      ],
      { sagaType: "t".repeat(64), labels: { ["k".repeat(63)]: "v".repeat(256) } },
    );
    expect(check(def, limits)).toBeNull();
  });
});

describe("validateDefinition: saga-level checks", () => {
  it("rejects an invalid saga_type", () => {
    expect(check(sagaDef([stepDef("a")], { sagaType: "" }))).toMatch(/^saga_type: "" is not valid/);
    expect(check(sagaDef([stepDef("a")], { sagaType: "has space" }))).toContain("saga_type:");
    expect(check(sagaDef([stepDef("a")], { sagaType: "t".repeat(65) }))).toContain("1..64 characters");
  });

  it("rejects a saga without steps", () => {
    expect(check(sagaDef([]))).toBe("steps: a saga needs at least one step");
  });

  it("rejects more steps than the limit, naming the limit", () => {
    const steps = ["a", "b", "c", "d"].map((n) => stepDef(n));
    const limits = { ...DEFAULT_LIMITS, maxSteps: 3 };
    expect(check(sagaDef(steps), limits)).toBe("steps: 4 steps given; at most 3 steps per saga are allowed");
    expect(check(sagaDef(steps.slice(0, 3)), limits)).toBeNull();
  });

  it("rejects more labels than the limit, naming the limit", () => {
    const labels = { a: "1", b: "2", c: "3" };
    const msg = check(sagaDef([stepDef("a")], { labels }), { ...DEFAULT_LIMITS, maxLabels: 2 });
    expect(msg).toBe("labels: 3 labels given; at most 2 are allowed");
  });

  it("uses 100 steps and 16 labels as the default limits", () => {
    const steps = Array.from({ length: 101 }, (_, i) => stepDef(`s${i}`));
    expect(check(sagaDef(steps))).toContain("at most 100 steps");
    expect(check(sagaDef(steps.slice(0, 100)))).toBeNull();
    const labels = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, "v"]));
    expect(check(sagaDef([stepDef("a")], { labels }))).toContain("at most 16 are allowed");
  });

  it("rejects invalid label keys and over-long label values", () => {
    expect(check(sagaDef([stepDef("a")], { labels: { "bad key": "v" } }))).toContain(
      'labels: key "bad key" is not valid',
    );
    expect(check(sagaDef([stepDef("a")], { labels: { "": "v" } }))).toContain('labels: key "" is not valid');
    expect(check(sagaDef([stepDef("a")], { labels: { ["k".repeat(64)]: "v" } }))).toContain(
      "1..63 characters",
    );
    expect(check(sagaDef([stepDef("a")], { labels: { k: "v".repeat(257) } }))).toBe(
      "labels[k]: value is longer than 256 characters",
    );
  });

  it("rejects a deadline that is not in the future", () => {
    const msg = "deadline: is in the past; give a time in the future or leave it unset";
    expect(check(sagaDef([stepDef("a")], { deadlineAt: NOW - 1 }))).toBe(msg);
    expect(check(sagaDef([stepDef("a")], { deadlineAt: NOW }))).toBe(msg);
    expect(check(sagaDef([stepDef("a")], { deadlineAt: NOW + 1 }))).toBeNull();
  });

  it("rejects a deadline no Date can hold (a Timestamp of seconds=9e15 decodes to NaN)", () => {
    const msg = "deadline: is not a time this coordinator can keep; allowed up to 9999-12-31T23:59:59Z";
    expect(check(sagaDef([stepDef("a")], { deadlineAt: new Date(9e18).getTime() }))).toBe(msg);
    expect(check(sagaDef([stepDef("a")], { deadlineAt: 253_402_300_800_000 }))).toBe(msg);
    expect(check(sagaDef([stepDef("a")], { deadlineAt: 253_402_300_799_999 }))).toBeNull();
  });
});

describe("validateDefinition: step fields", () => {
  it("rejects an empty step name, naming the index", () => {
    expect(check(withStep(1, { name: "" }))).toBe(
      "steps[1].name: is empty; every step needs a name of 1..64 characters of [A-Za-z0-9._-]",
    );
  });

  it("rejects step names with characters outside the allowed set or longer than 64", () => {
    expect(check(withStep(0, { name: "a/b" }))).toBe(
      'steps[0].name: "a/b" is not valid; use 1..64 characters of [A-Za-z0-9._-]',
    );
    expect(check(withStep(2, { name: "x".repeat(65) }))).toContain("steps[2].name:");
  });

  it("rejects a duplicate step name at the second occurrence", () => {
    expect(check(withStep(2, { name: "a" }))).toBe(
      'steps[2].name: duplicate step name "a"; names must be unique',
    );
  });

  it("rejects an empty or over-long participant", () => {
    expect(check(withStep(1, { participant: "" }))).toBe(
      "steps[1].participant: is empty; give a host:port address or a participant name from the coordinator's config",
    );
    expect(check(withStep(0, { participant: "p".repeat(257) }))).toBe(
      "steps[0].participant: longer than 256 characters",
    );
  });

  it("rejects a payload above the limit, naming the size and the limit", () => {
    const limits = { ...DEFAULT_LIMITS, maxPayloadBytes: 10 };
    expect(check(withStep(1, { payload: new Uint8Array(11) }), limits)).toBe(
      "steps[1].payload: 11 bytes; at most 10 bytes are allowed",
    );
    expect(check(withStep(1, { payload: new Uint8Array(10) }), limits)).toBeNull();
    expect(check(withStep(0, { payload: new Uint8Array(1024 * 1024 + 1) }))).toContain(
      "at most 1048576 bytes",
    );
  });

  it("rejects an over-long content type", () => {
    expect(check(withStep(0, { contentType: "c".repeat(129) }))).toBe(
      "steps[0].content_type: longer than 128 characters",
    );
  });

  it("rejects a timeout outside 1ms..1h, showing negative values as negative ms", () => {
    expect(check(withStep(0, { timeoutMs: 0 }))).toBe(
      "steps[0].timeout: 0ms is out of range; allowed 1ms..1h (unset means 30s)",
    );
    expect(check(withStep(1, { timeoutMs: -5 }))).toBe(
      "steps[1].timeout: -5ms is out of range; allowed 1ms..1h (unset means 30s)",
    );
    expect(check(withStep(2, { timeoutMs: HOUR + 1 }))).toContain(
      "steps[2].timeout: 3600001ms is out of range",
    );
  });

  it("bounds the participant calls a saga's retry policies allow in all", () => {
    const many = (name: string) =>
      stepDef(name, { retry: retry({ maxAttempts: 1000 }), compensateRetry: retry({ maxAttempts: 1000 }) });
    const def = sagaDef(Array.from({ length: 6 }, (_, i) => many(`s${i}`)));
    expect(check(def)).toBe(
      "steps: the retry policies allow 12000 participant calls in all (max_attempts of retry plus compensate_retry, summed over the steps); at most 10000 per saga are allowed",
    );
    expect(check(sagaDef(Array.from({ length: 5 }, (_, i) => many(`s${i}`))))).toBeNull();
  });

  describe.each([
    ["retry", "retry"],
    ["compensateRetry", "compensate_retry"],
  ] as const)("the %s policy (reported as %s)", (field, label) => {
    const bad = (overrides: Parameters<typeof retry>[0]) => check(withStep(1, { [field]: retry(overrides) }));

    it("rejects max_attempts outside 1..1000", () => {
      expect(bad({ maxAttempts: 0 })).toBe(
        `steps[1].${label}.max_attempts: 0 is out of range; allowed 1..1000 (0 means the default)`,
      );
      expect(bad({ maxAttempts: 1001 })).toContain(`steps[1].${label}.max_attempts: 1001 is out of range`);
    });

    it("rejects initial_backoff outside the minimum (10ms)..1h, negative shown as negative ms", () => {
      expect(bad({ initialBackoffMs: -250 })).toBe(
        `steps[1].${label}.initial_backoff: -250ms is out of range; allowed 10ms..1h`,
      );
      expect(bad({ initialBackoffMs: 0 })).toContain("initial_backoff: 0ms");
      expect(bad({ initialBackoffMs: 9 })).toContain(
        "initial_backoff: 9ms is out of range; allowed 10ms..1h",
      );
      expect(bad({ initialBackoffMs: HOUR + 1, maxBackoffMs: HOUR + 1 })).toContain(
        `initial_backoff: ${HOUR + 1}ms`,
      );
    });

    it("rejects max_backoff below initial_backoff or above 1h", () => {
      expect(bad({ initialBackoffMs: 500, maxBackoffMs: 499 })).toBe(
        `steps[1].${label}.max_backoff: 499ms is out of range; allowed initial_backoff..1h`,
      );
      expect(bad({ maxBackoffMs: -1 })).toContain(`${label}.max_backoff: -1ms`);
      expect(bad({ maxBackoffMs: HOUR + 1 })).toContain(`${label}.max_backoff: ${HOUR + 1}ms`);
    });

    it("rejects a multiplier outside 1..10 (and NaN)", () => {
      expect(bad({ multiplier: 0.5 })).toBe(
        `steps[1].${label}.multiplier: 0.5 is out of range; allowed 1.0..10.0 (0 means 2.0)`,
      );
      expect(bad({ multiplier: 10.5 })).toContain(`${label}.multiplier: 10.5`);
      expect(bad({ multiplier: Number.NaN })).toContain(`${label}.multiplier: NaN`);
    });

    it("rejects a jitter outside 0..1 (and NaN)", () => {
      expect(bad({ jitter: -0.1 })).toBe(
        `steps[1].${label}.jitter: -0.1 is out of range; allowed 0..1 (negative means 0.2)`,
      );
      expect(bad({ jitter: 1.5 })).toContain(`${label}.jitter: 1.5`);
      expect(bad({ jitter: Number.NaN })).toContain(`${label}.jitter: NaN`);
    });
  });
});

describe("validateDefinition: depends_on", () => {
  it("rejects a step that depends on itself", () => {
    expect(check(withStep(1, { dependsOn: ["b"] }))).toBe('steps[1].depends_on: step "b" depends on itself');
  });

  it("rejects an unknown dependency", () => {
    expect(check(withStep(2, { dependsOn: ["a", "nope"] }))).toBe(
      'steps[2].depends_on: unknown step "nope"; depends_on may only name steps of this saga',
    );
  });

  it("rejects a two-step cycle and shows its path", () => {
    const def = sagaDef([stepDef("a", { dependsOn: ["b"] }), stepDef("b", { dependsOn: ["a"] })]);
    expect(check(def)).toBe("steps: depends_on has a cycle: a -> b -> a; the steps must form a DAG");
  });

  it("rejects a longer cycle that does not include the first step", () => {
    const def = sagaDef([
      stepDef("root"),
      stepDef("x", { dependsOn: ["root", "z"] }),
      stepDef("y", { dependsOn: ["x"] }),
      stepDef("z", { dependsOn: ["y"] }),
    ]);
    const msg = check(def);
    expect(msg).toMatch(/^steps: depends_on has a cycle: /);
    const path = (msg ?? "")
      .replace(/^steps: depends_on has a cycle: /, "")
      .replace(/; .*$/, "")
      .split(" -> ");
    expect(path[0]).toBe(path[path.length - 1]);
    expect(new Set(path)).toEqual(new Set(["x", "y", "z"]));
    expect(path).not.toContain("root");
  });
});

describe("validateDefinition: step kinds and the pivot", () => {
  it("rejects a compensatable step after the pivot (list order)", () => {
    const def = sagaDef([stepDef("a"), stepDef("p", { kind: "pivot" }), stepDef("late")]);
    expect(check(def)).toBe(
      'steps[2].kind: compensatable step "late" is not before pivot "p"; every compensatable step must be a dependency of the pivot (after it only retriable steps are allowed)',
    );
  });

  it("rejects a compensatable step that depends on the pivot", () => {
    const def = sagaDef([
      stepDef("a"),
      stepDef("p", { kind: "pivot", dependsOn: ["a"] }),
      stepDef("undo-me", { dependsOn: ["p"] }),
    ]);
    expect(check(def)).toContain('compensatable step "undo-me" is not before pivot "p"');
  });

  it("rejects a compensatable step beside the pivot (not one of its dependencies) in a DAG", () => {
    const def = sagaDef([
      stepDef("a"),
      stepDef("side"),
      stepDef("p", { kind: "pivot", dependsOn: ["a"] }),
      stepDef("r", { kind: "retriable", dependsOn: ["p"] }),
    ]);
    expect(check(def)).toContain('steps[1].kind: compensatable step "side" is not before pivot "p"');
  });

  it("rejects two pivots, naming both", () => {
    const def = sagaDef([stepDef("a"), stepDef("p1", { kind: "pivot" }), stepDef("p2", { kind: "pivot" })]);
    expect(check(def)).toBe("steps: 2 pivot steps (p1, p2); at most one pivot per saga");
  });

  it("rejects a retriable step in a saga without a pivot", () => {
    const def = sagaDef([stepDef("a"), stepDef("r", { kind: "retriable" })]);
    expect(check(def)).toBe(
      'steps[1].kind: retriable step "r" needs a pivot before it; retriable steps come after the pivot',
    );
  });

  it("rejects a retriable step before the pivot", () => {
    const def = sagaDef([stepDef("r", { kind: "retriable" }), stepDef("p", { kind: "pivot" })]);
    expect(check(def)).toBe(
      'steps[0].kind: retriable step "r" does not come after pivot "p"; retriable steps must depend on the pivot',
    );
  });

  it("rejects a retriable step that runs beside the pivot in a DAG", () => {
    const def = sagaDef([
      stepDef("a"),
      stepDef("p", { kind: "pivot", dependsOn: ["a"] }),
      stepDef("r", { kind: "retriable", dependsOn: ["a"] }),
    ]);
    expect(check(def)).toContain('retriable step "r" does not come after pivot "p"');
  });

  it("accepts a retriable step that depends on the pivot only transitively", () => {
    const def = sagaDef([
      stepDef("a"),
      stepDef("p", { kind: "pivot", dependsOn: ["a"] }),
      stepDef("r1", { kind: "retriable", dependsOn: ["p"] }),
      stepDef("r2", { kind: "retriable", dependsOn: ["r1"] }),
    ]);
    expect(check(def)).toBeNull();
  });
});

describe("validateDefinition: reports the first problem only", () => {
  it("reports saga-level problems before step problems and earlier steps before later ones", () => {
    const def = sagaDef([stepDef("a", { participant: "" }), stepDef("b", { timeoutMs: 0 })], {
      deadlineAt: NOW - 1,
    });
    expect(check(def)).toContain("deadline:");
    expect(check({ ...def, deadlineAt: null })).toContain("steps[0].participant");
  });

  it("reports field problems before dependency problems", () => {
    const def = sagaDef([stepDef("a", { dependsOn: ["zzz"] }), stepDef("b", { timeoutMs: 0 })]);
    expect(check(def)).toContain("steps[1].timeout");
  });
});
