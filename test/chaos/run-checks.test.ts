import { describe, expect, it } from "vitest";
import type { FaultRecord } from "./fault-runner.js";
import { availability, drainsBounded, probesCompleted, recoveryWithin } from "./run-checks.js";

const drain = (index: number, drainExitMs?: number): FaultRecord => ({
  fault: { index, kind: "drain", target: "node-1", durationMs: 1_000, gapMs: 1_000 },
  startedAt: 0,
  healedAt: 1,
  ...(drainExitMs === undefined ? {} : { drainExitMs }),
});

describe("run checks", () => {
  it("availability fails on a saga never accepted or accepted past the bound, and counts attempts during faults", () => {
    const faults: FaultRecord[] = [{ ...drain(0, 1), startedAt: 100, healedAt: 200 }];
    const attempts = [
      { sagaId: "a", node: "node-1", at: 150, outcome: "UNAVAILABLE" },
      { sagaId: "a", node: "node-2", at: 160, outcome: "OK" },
      { sagaId: "b", node: "node-1", at: 300, outcome: "OK" },
    ];
    const ok = availability([{ sagaId: "a", accepted: true, tookMs: 10 }], attempts, faults, 1_000);
    expect(ok.ok).toBe(true);
    expect(ok.detail).toContain("during faults 1/2 attempts OK");
    const bad = availability(
      [
        { sagaId: "a", accepted: false, tookMs: 60_000 },
        { sagaId: "b", accepted: true, tookMs: 2_000 },
      ],
      attempts,
      faults,
      1_000,
    );
    expect(bad.violations).toEqual([
      "a was never accepted (tried for 60.0 s)",
      "b took 2.0 s to be accepted",
    ]);
  });

  it("drain must exit within --drain-timeout-ms + 3 s", () => {
    expect(drainsBounded([drain(0, 12_000)], 10_000).ok).toBe(true);
    expect(drainsBounded([drain(0, 14_000), drain(1)], 10_000).violations).toEqual([
      "#1 drain node-1 for 1.0 s: exited 14.0 s after SIGTERM",
      "#2 drain node-1 for 1.0 s: still running 30.0 s after SIGTERM (killed)",
    ]);
  });

  it("probes name the partitions whose probe saga did not complete", () => {
    const r = probesCompleted(
      ["p0", "p1", "p2"],
      ["COMPLETED", "RUNNING", "RUNNING"],
      (id) => Number(id.slice(1)),
      2,
    );
    expect(r.violations).toEqual(["partitions 1-2: probe saga not COMPLETED (RUNNING)"]);
  });

  it("recovery fails when the first progress is late or came only from the restarted node", () => {
    const base = { node: "node-2", at: 0, inFlight: 3, waitingOnCall: 2 };
    expect(recoveryWithin([{ ...base, firstProgressMs: 6_000, byAnotherNode: true }], 7_000).ok).toBe(true);
    expect(recoveryWithin([{ ...base, firstProgressMs: 9_000, byAnotherNode: true }], 7_000).ok).toBe(false);
    expect(recoveryWithin([{ ...base, firstProgressMs: 5_000, byAnotherNode: false }], 7_000).ok).toBe(false);
    expect(recoveryWithin([{ ...base, inFlight: 0, waitingOnCall: 0, byAnotherNode: false }], 7_000).ok).toBe(
      true,
    );
  });
});
