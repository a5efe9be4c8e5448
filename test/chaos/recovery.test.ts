import { describe, expect, it } from "vitest";
import { recoveries } from "./recovery.js";

describe("recoveries", () => {
  const kill = { node: "node-2", at: 1_000, restartedAt: 20_000, partitions: [3, 4] };

  it("measures the first and the last first-progress of the sagas in flight on the killed node's partitions", () => {
    const [r] = recoveries(
      [kill],
      [
        { sagaId: "a", partition: 3, eventTimes: [500, 900, 7_500, 8_000], calls: [{ sentAt: 900 }] },
        { sagaId: "b", partition: 4, eventTimes: [800, 9_000], finishedAt: 9_000, calls: [{ sentAt: 800 }] },
        // waiting out a backoff at the kill (its call was answered at 950): in flight, not timed
        { sagaId: "w", partition: 4, eventTimes: [600, 950, 30_000], calls: [{ sentAt: 700, endedAt: 950 }] },
        // finished before the kill, another node's partition, created after the kill: not counted
        { sagaId: "c", partition: 3, eventTimes: [100, 200], finishedAt: 200 },
        { sagaId: "d", partition: 7, eventTimes: [100, 1_200] },
        { sagaId: "e", partition: 4, eventTimes: [1_500, 1_600] },
      ],
    );
    expect(r).toEqual({
      node: "node-2",
      at: 1_000,
      inFlight: 3,
      waitingOnCall: 2,
      firstProgressMs: 6_500,
      allProgressedMs: 8_000,
      byAnotherNode: true,
    });
  });

  it("says so when progress came only after the node was back, or never", () => {
    const calls = [{ sentAt: 500 }];
    const [late] = recoveries([kill], [{ sagaId: "a", partition: 3, eventTimes: [500, 25_000], calls }]);
    expect(late?.byAnotherNode).toBe(false);
    const [never] = recoveries([kill], [{ sagaId: "a", partition: 3, eventTimes: [500], calls }]);
    expect(never).toEqual({ node: "node-2", at: 1_000, inFlight: 1, waitingOnCall: 1, byAnotherNode: false });
  });
});
