import { describe, expect, it } from "vitest";
import {
  compensatedExactlyOnce,
  completedExactlyOnce,
  designedOutcomes,
  type EffectCount,
  everySagaTerminal,
  type FinalSaga,
  getSagaAgreesWithLedgers,
  NO_EFFECT,
  noEffectTwice,
} from "./invariants.js";
import type { PlannedSaga } from "./saga-mix.js";

const failLate: PlannedSaga = {
  sagaId: "s1",
  shape: "fail-late",
  expected: "COMPENSATED",
  steps: [
    { name: "reserve", participant: "ts", kind: "compensatable", refuses: false },
    { name: "ship", participant: "go", kind: "compensatable", refuses: false },
    { name: "notify", participant: "ts", kind: "compensatable", refuses: true },
  ],
};
const complete: PlannedSaga = {
  sagaId: "s2",
  shape: "complete",
  expected: "COMPLETED",
  steps: [
    { name: "reserve", participant: "ts", kind: "compensatable", refuses: false },
    { name: "ship", participant: "go", kind: "pivot", refuses: false },
  ],
};

const applied = (id: string, at = 10): EffectCount => ({
  applied: 1,
  undone: 0,
  applyIds: [id],
  applyTimes: [at],
  undoTimes: [],
});
const undone = (id: string, at = 10, undoAt = 20): EffectCount => ({
  ...applied(id, at),
  undone: 1,
  undoTimes: [undoAt],
});
const ledgerOf = (entries: Record<string, EffectCount>) => (key: string) => entries[key] ?? NO_EFFECT;

const compensatedFinal: FinalSaga = {
  sagaId: "s1",
  status: "COMPENSATED",
  steps: [
    { name: "reserve", status: "COMPENSATED", effectId: "r1", outcomeUnknown: false },
    { name: "ship", status: "COMPENSATED", outcomeUnknown: false },
    { name: "notify", status: "FAILED", outcomeUnknown: false },
  ],
};
const completedFinal: FinalSaga = {
  sagaId: "s2",
  status: "COMPLETED",
  steps: [
    { name: "reserve", status: "SUCCEEDED", effectId: "r2", outcomeUnknown: false },
    { name: "ship", status: "SUCCEEDED", outcomeUnknown: false },
  ],
};
const finals = new Map([
  ["s1", compensatedFinal],
  ["s2", completedFinal],
]);
const good = ledgerOf({
  "s1/reserve": undone("r1"),
  "s1/ship": undone(""),
  "s2/reserve": applied("r2"),
  "s2/ship": applied(""),
});

describe("saga invariants", () => {
  it("pass on a consistent end state", () => {
    const planned = [failLate, complete];
    for (const r of [
      everySagaTerminal([...finals.values()]),
      designedOutcomes(planned, finals),
      completedExactlyOnce(planned, finals, good),
      compensatedExactlyOnce(planned, finals, good),
      noEffectTwice(planned, good),
      getSagaAgreesWithLedgers(planned, finals, good),
    ]) {
      expect(r.violations).toEqual([]);
      expect(r.ok).toBe(true);
    }
  });

  it("report a saga left RUNNING with the steps that are open", () => {
    const running: FinalSaga = {
      ...completedFinal,
      status: "RUNNING",
      steps: [
        { name: "reserve", status: "SUCCEEDED", outcomeUnknown: false },
        { name: "ship", status: "EXECUTING", outcomeUnknown: false },
      ],
    };
    const r = everySagaTerminal([running]);
    expect(r.ok).toBe(false);
    expect(r.violations).toEqual(["s2 is RUNNING (ship EXECUTING)"]);
  });

  it("catch an effect applied twice in a COMPLETED saga", () => {
    const twice = ledgerOf({
      "s2/reserve": { ...applied("r2"), applied: 2, applyIds: ["r2", "x"] },
      "s2/ship": applied(""),
    });
    expect(completedExactlyOnce([complete], finals, twice).violations).toEqual([
      "s2/reserve: applied 2, undone 0",
    ]);
    expect(noEffectTwice([complete], twice).ok).toBe(false);
  });

  it("catch a COMPLETED saga with an undone step", () => {
    const undoneStep = ledgerOf({ "s2/reserve": undone("r2"), "s2/ship": applied("") });
    expect(completedExactlyOnce([complete], finals, undoneStep).ok).toBe(false);
    expect(getSagaAgreesWithLedgers([complete], finals, undoneStep).violations).toEqual([
      "s2/reserve SUCCEEDED but applied 1, undone 1",
    ]);
  });

  it("catch a COMPENSATED saga that left an effect in place", () => {
    const leftOver = ledgerOf({ "s1/reserve": undone("r1"), "s1/ship": applied("") });
    expect(compensatedExactlyOnce([failLate], finals, leftOver).violations).toEqual([
      "s1/ship: applied 1, undone 0, expected undone == applied <= 1",
    ]);
  });

  it("catch an effect applied at or after the failed step of a COMPENSATED saga", () => {
    const late = ledgerOf({ "s1/reserve": undone("r1"), "s1/ship": undone(""), "s1/notify": applied("n") });
    expect(compensatedExactlyOnce([failLate], finals, late).violations).toEqual([
      "s1/notify (at/after the failed step): applied 1, undone 0",
    ]);
  });

  it("catch an effect applied after an undo of the same saga (ledger times)", () => {
    const order = ledgerOf({ "s1/reserve": undone("r1", 10, 20), "s1/ship": undone("", 30, 40) });
    expect(compensatedExactlyOnce([failLate], finals, order).violations).toEqual([
      "s1: an effect was applied at 30, after an undo at 20",
    ]);
  });

  it("catch GetSaga naming an output that is not the effect the ledger applied", () => {
    const other = ledgerOf({ "s2/reserve": applied("someone-else"), "s2/ship": applied("") });
    expect(getSagaAgreesWithLedgers([complete], finals, other).violations).toEqual([
      "s2/reserve output has effect r2, the ledger applied someone-else",
    ]);
  });

  it("accept a timed-out step that may or may not have taken effect, as long as it was undone if it did", () => {
    const unknown: FinalSaga = {
      ...compensatedFinal,
      steps: [
        { name: "reserve", status: "COMPENSATED", effectId: "r1", outcomeUnknown: false },
        { name: "ship", status: "COMPENSATED", outcomeUnknown: true },
        { name: "notify", status: "FAILED", outcomeUnknown: false },
      ],
    };
    const notApplied = ledgerOf({ "s1/reserve": undone("r1") });
    const m = new Map([["s1", unknown]]);
    expect(compensatedExactlyOnce([failLate], m, notApplied).ok).toBe(true);
    expect(getSagaAgreesWithLedgers([failLate], m, notApplied).ok).toBe(true);
  });

  it("report a saga that ended other than designed", () => {
    const flipped = new Map([["s2", { ...completedFinal, status: "COMPENSATED" }]]);
    expect(designedOutcomes([complete], flipped).violations).toEqual([
      "s2 (complete) is COMPENSATED, designed COMPLETED",
    ]);
  });
});
