import { describe, expect, it } from "vitest";
import { FAULT_KINDS, faultSchedule, plannedDurationMs } from "./fault-schedule.js";
import { Prng } from "./prng.js";

const settings = { faults: 200, nodeIds: ["node-1", "node-2", "node-3"], leaseTtlMs: 5_000 };

describe("faultSchedule", () => {
  it("is a pure function of the seed", () => {
    expect(faultSchedule(new Prng(3), settings)).toEqual(faultSchedule(new Prng(3), settings));
    expect(faultSchedule(new Prng(3), settings)).not.toEqual(faultSchedule(new Prng(4), settings));
  });

  it("uses every kind, with targets and durations that make each fault meaningful", () => {
    const faults = faultSchedule(new Prng(11), settings);
    expect(new Set(faults.map((f) => f.kind))).toEqual(new Set(FAULT_KINDS));
    for (const f of faults) {
      if (["sigkill", "sigstop", "drain", "partition"].includes(f.kind))
        expect(settings.nodeIds).toContain(f.target);
      if (f.kind === "participant-crash" || f.kind === "participant-latency")
        expect(["ts", "go"]).toContain(f.target);
      // A stopped or killed node stays away past its lease, so the others must take over.
      if (f.kind === "sigstop" || f.kind === "sigkill")
        expect(f.durationMs).toBeGreaterThan(settings.leaseTtlMs);
      if (f.kind === "participant-latency") expect(f.delayMs).toBeGreaterThan(0);
    }
    expect(faults.map((f) => f.index)).toEqual(faults.map((_, i) => i));
  });

  it("honours weights: a kind with weight 0 never occurs", () => {
    const faults = faultSchedule(new Prng(1), { ...settings, weights: { partition: 0, sigkill: 0 } });
    expect(faults.some((f) => f.kind === "partition" || f.kind === "sigkill")).toBe(false);
  });

  it("plans the sum of durations and gaps", () => {
    const faults = faultSchedule(new Prng(2), { ...settings, faults: 3 });
    expect(plannedDurationMs(faults)).toBe(faults.reduce((s, f) => s + f.durationMs + f.gapMs, 0));
  });
});
