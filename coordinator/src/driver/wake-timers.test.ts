import { describe, expect, it } from "vitest";
import { WakeTimers } from "./wake-timers.js";

const ids = (due: { sagaId: string }[]) => due.map((d) => d.sagaId).sort();

describe("WakeTimers", () => {
  it("never hands a wake-up out before its time, and at most one slot after", () => {
    const timers = new WakeTimers(50, 1_000);
    timers.set("a", 1, 1_120);
    expect(timers.takeDue(1_119)).toEqual([]);
    expect(timers.takeDue(1_149)).toEqual([]); // slot 1100-1150 has not wholly passed
    expect(timers.takeDue(1_150)).toEqual([{ sagaId: "a", partition: 1 }]);
    expect(timers.takeDue(5_000)).toEqual([]);
    expect(timers.size).toBe(0);
  });

  it("fires a wake-up set in the past on the next slot", () => {
    const timers = new WakeTimers(50, 10_000);
    expect(timers.takeDue(10_020)).toEqual([]);
    timers.set("late", 3, 1);
    expect(ids(timers.takeDue(10_050))).toEqual(["late"]);
  });

  it("replaces a saga's wake-up and clears it on null or delete", () => {
    const timers = new WakeTimers(10, 0);
    timers.set("a", 0, 100);
    timers.set("a", 0, 500);
    timers.set("b", 0, 100);
    timers.set("b", 0, null);
    timers.set("c", 0, 100);
    timers.delete("c");
    expect(timers.takeDue(200)).toEqual([]);
    expect(ids(timers.takeDue(510))).toEqual(["a"]);
  });

  it("forgets the wake-ups of one partition only", () => {
    const timers = new WakeTimers(10, 0);
    timers.set("a", 1, 100);
    timers.set("b", 2, 100);
    timers.set("c", 1, 300);
    timers.forgetPartition(1);
    expect(timers.size).toBe(1);
    expect(timers.takeDue(1_000)).toEqual([{ sagaId: "b", partition: 2 }]);
  });

  it("hands out everything that came due during a long pause, oldest slot first", () => {
    const timers = new WakeTimers(50, 0);
    timers.set("later", 0, 3_000_000);
    timers.set("sooner", 0, 60_000);
    expect(timers.takeDue(3_600_000).map((d) => d.sagaId)).toEqual(["sooner", "later"]);
  });
});
