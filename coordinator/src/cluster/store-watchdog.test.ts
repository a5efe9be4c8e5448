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

  /** Checks once a second (the watchdog's own period) from `from` to `to`. */
  function checkEverySecond(ctx: ReturnType<typeof setup>, from: number, to: number) {
    for (let t = from; t <= to; t += 1000) {
      ctx.at(t);
      ctx.watchdog.check();
    }
  }

  it("stays healthy while pings succeed, and sends one ping at a time", async () => {
    const ctx = setup();
    const { watchdog, pings, verdicts, settle, at } = ctx;
    watchdog.check();
    watchdog.check();
    expect(pings).toHaveLength(1);
    checkEverySecond(ctx, 1000, 9000);
    expect(pings).toHaveLength(1);
    pings[0]?.resolve();
    await settle();
    checkEverySecond(ctx, 10_000, 18_000);
    at(18_000);
    watchdog.check();
    expect(verdicts).toEqual([]);
    expect(watchdog.isHealthy).toBe(true);
  });

  it("gives up after the bound of silence (a hanging ping counts), and recovers on the next answer", async () => {
    const ctx = setup();
    const { watchdog, pings, verdicts, settle, at } = ctx;
    watchdog.check(); // this ping hangs
    checkEverySecond(ctx, 1000, 10_000);
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

  it("does not count its own pause (SIGSTOP, a long GC) as the store's silence", async () => {
    const ctx = setup();
    const { watchdog, pings, verdicts, settle } = ctx;
    watchdog.check(); // sent just before the pause
    checkEverySecond(ctx, 1000, 1000);
    ctx.at(13_000); // woke up 12 s later: the ping's answer is still on its way
    watchdog.check();
    expect(verdicts).toEqual([]);
    pings[0]?.resolve();
    await settle();
    checkEverySecond(ctx, 14_000, 14_000);
    expect(pings).toHaveLength(2);
    expect(verdicts).toEqual([]);
    expect(watchdog.isHealthy).toBe(true);
  });

  it("still gives up when the store stays silent after a pause", () => {
    const ctx = setup();
    ctx.watchdog.check();
    ctx.at(13_000);
    ctx.watchdog.check();
    checkEverySecond(ctx, 14_000, 22_000);
    expect(ctx.verdicts).toEqual([]);
    checkEverySecond(ctx, 23_000, 24_000);
    expect(ctx.verdicts).toEqual([false]);
  });
});
