import { describe, expect, it } from "vitest";
import { CallSlots } from "./call-slots.js";

describe("CallSlots", () => {
  it("caps calls in all and per participant", () => {
    const slots = new CallSlots<string>(3, 2);
    expect(slots.tryTake("slow")).toBe(true);
    expect(slots.tryTake("slow")).toBe(true);
    expect(slots.tryTake("slow")).toBe(false);
    expect(slots.tryTake("fast")).toBe(true);
    expect(slots.tryTake("other")).toBe(false);
    expect(slots.inFlight).toBe(3);
  });

  it("serves waiting calls of participants with room first, in turn, each queue oldest first", () => {
    const slots = new CallSlots<string>(10, 1);
    slots.tryTake("slow");
    for (const item of ["slow-1", "slow-2"]) slots.enqueue("slow", item);
    for (const item of ["a-1", "a-2"]) slots.enqueue("a", item);
    slots.enqueue("b", "b-1");
    // "slow" is full: its queue waits while the others run.
    expect(slots.nextRunnable()).toEqual({ participant: "a", item: "a-1" });
    expect(slots.nextRunnable()).toEqual({ participant: "b", item: "b-1" });
    expect(slots.nextRunnable()).toBeNull();
    slots.release("slow");
    expect(slots.nextRunnable()).toEqual({ participant: "slow", item: "slow-1" });
    slots.release("a");
    expect(slots.nextRunnable()).toEqual({ participant: "a", item: "a-2" });
    expect(slots.queued).toBe(1);
  });

  it("stops at the total cap however many participants have room", () => {
    const slots = new CallSlots<string>(1, 5);
    slots.tryTake("a");
    slots.enqueue("b", "b-1");
    expect(slots.nextRunnable()).toBeNull();
    slots.release("a");
    expect(slots.nextRunnable()).toEqual({ participant: "b", item: "b-1" });
  });

  it("drains every queue", () => {
    const slots = new CallSlots<string>(0, 0);
    slots.enqueue("a", "a-1");
    slots.enqueue("b", "b-1");
    expect(slots.drain().sort()).toEqual(["a-1", "b-1"]);
    expect(slots.queued).toBe(0);
  });
});
