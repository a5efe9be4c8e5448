import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { StoreWatchdog } from "./store-watchdog.js";

describe("StoreWatchdog", () => {
  function setup() {
    let now = 0;
    const pings: { resolve: () => void; reject: (err: Error) => void }[] = [];
    const watchdog = new StoreWatchdog(
      () => new Promise<void>((resolve, reject) => pings.push({ resolve, reject })),
      { unavailableAfterMs: 10_000, now: () => now },
      pino({ level: "silent" }),
    );
    const verdicts: boolean[] = [];
    watchdog.onChange((healthy) => verdicts.push(healthy));
    const settle = () => new Promise((r) => setImmediate(r));
    return {
      watchdog,
      pings,
      verdicts,
      settle,
      at: (t: number) => {
        now = t;
      },
    };
  }

  it("stays healthy while pings succeed, and sends one ping at a time", async () => {
    const { watchdog, pings, verdicts, settle, at } = setup();
    watchdog.check();
    watchdog.check();
    expect(pings).toHaveLength(1);
    at(9000);
    pings[0]?.resolve();
    await settle();
    at(18_000);
    watchdog.check();
    expect(verdicts).toEqual([]);
    expect(watchdog.isHealthy).toBe(true);
  });

  it("gives up after the bound of silence (a hanging ping counts), and recovers on the next answer", async () => {
    const { watchdog, pings, verdicts, settle, at } = setup();
    watchdog.check(); // this ping hangs
    at(10_000);
    watchdog.check();
    expect(verdicts).toEqual([]);
    at(10_001);
    watchdog.check();
    expect(verdicts).toEqual([false]);
    expect(pings).toHaveLength(1);
    pings[0]?.reject(new Error("connection reset"));
    await settle();
    watchdog.check();
    expect(watchdog.isHealthy).toBe(false);
    pings[1]?.resolve();
    await settle();
    expect(verdicts).toEqual([false, true]);
    expect(watchdog.isHealthy).toBe(true);
  });
});
