import { describe, expect, it } from "vitest";
import { StreamLimits } from "./stream-limits.js";

describe("StreamLimits", () => {
  it("refuses past the per-caller limit and past the node limit, naming the flag", () => {
    const limits = new StreamLimits({ perNode: 3, perCaller: 2 });
    const a1 = limits.open("a");
    const a2 = limits.open("a");
    const a3 = limits.open("a");
    expect(a1.ok && a2.ok).toBe(true);
    expect(a3).toEqual({ ok: false, reason: expect.stringContaining("--max-watch-streams-per-caller") });
    expect(limits.open("b").ok).toBe(true);
    expect(limits.open("c")).toEqual({ ok: false, reason: expect.stringContaining("--max-watch-streams)") });
    expect(limits.openStreams).toBe(3);
  });

  it("frees a slot once per release, and counts forwarded streams against the node only", () => {
    const limits = new StreamLimits({ perNode: 2, perCaller: 1 });
    const a = limits.open("a");
    if (!a.ok) throw new Error("expected a slot");
    a.release();
    a.release();
    expect(limits.openStreams).toBe(0);
    expect(limits.open("a").ok).toBe(true);
    expect(limits.open(null).ok).toBe(true);
    expect(limits.open(null).ok).toBe(false);
  });
});
