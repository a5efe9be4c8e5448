import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { SerialTask } from "./serial-task.js";

describe("SerialTask", () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  /** A step the test finishes by hand; counts how many run at once. */
  function manualStep() {
    const runs: { resolve: () => void; reject: (err: Error) => void }[] = [];
    let running = 0;
    let most = 0;
    const step = () =>
      new Promise<void>((resolve, reject) => {
        running++;
        most = Math.max(most, running);
        const end = () => void running--;
        runs.push({
          resolve: () => {
            end();
            resolve();
          },
          reject: (err) => {
            end();
            reject(err);
          },
        });
      });
    return { step, runs, most: () => most };
  }

  it("runs one step at a time and folds requests made meanwhile into one more run", async () => {
    const { step, runs, most } = manualStep();
    const task = new SerialTask(step, () => undefined);
    task.request();
    task.request();
    task.request();
    expect(runs).toHaveLength(1);
    runs[0]?.resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(runs).toHaveLength(2);
    runs[1]?.resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(runs).toHaveLength(2);
    expect(most()).toBe(1);
  });

  it("retries a failed step after a capped backoff, and requests meanwhile start nothing", async () => {
    const { step, runs, most } = manualStep();
    const delays: number[] = [];
    const task = new SerialTask(step, (_err, retryInMs) => delays.push(retryInMs));
    task.request();
    // etcd is down: every run fails. Many events keep asking for a run.
    for (let failure = 0; failure < 12; failure++) {
      (runs.at(-1) as { reject: (err: Error) => void }).reject(new Error("etcd unavailable"));
      await vi.advanceTimersByTimeAsync(0);
      for (let i = 0; i < 10; i++) task.request();
      expect(runs).toHaveLength(failure + 1);
      await vi.advanceTimersByTimeAsync(delays.at(-1) as number);
      expect(runs).toHaveLength(failure + 2);
    }
    expect(most()).toBe(1);
    expect(Math.max(...delays)).toBeLessThanOrEqual(2000);
    expect(delays[0]).toBeLessThan(delays[5] as number);
    const stopped = task.stop();
    runs.at(-1)?.resolve();
    await stopped;
  });

  it("starts nothing after stop()", async () => {
    const { step, runs } = manualStep();
    const task = new SerialTask(step, () => undefined);
    task.request();
    const stopped = task.stop();
    runs[0]?.resolve();
    await stopped;
    task.request();
    expect(runs).toHaveLength(1);
  });
});
