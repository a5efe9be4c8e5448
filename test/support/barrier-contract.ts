import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import {
  Barrier,
  type BarrierOptions,
  BarrierRefusal,
  type BarrierStore,
  BusinessFailure,
  type CompensateResult,
} from "@saga-coordinator/participant-sdk";
import { describe, expect, it } from "vitest";
import { gatedHandler, latch } from "./latch.js";
import { ObservedStore, sawInProgress } from "./observed-barrier-store.js";

// Every case orders its events with explicit signals (a handler that says it
// was entered and waits for a gate, a store that reports what the barrier did
// with it, a clock the test moves), never with sleeps: on a loaded machine a
// "long enough" delay is sometimes too short.

/** Counts handler runs per phase. */
class Runs {
  execute = 0;
  compensate = 0;
}

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString();

/** Repeats a barrier call while it answers "in progress, retry": what the coordinator does (with a backoff). */
async function untilDecided<T>(call: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof BarrierRefusal && err.reason === "in-progress")) throw err;
      await sleep(5); // a retry backoff, not an ordering: any delay gives the same outcome
    }
  }
}

/** A clock the test moves forward by hand, on top of real time (the barrier's waits still pass). */
function movableClock(): { now: () => number; advance(ms: number): void } {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    advance(ms: number) {
      offset += ms;
    },
  };
}

/** The error a call must fail with. */
async function failure(call: () => Promise<unknown>): Promise<unknown> {
  try {
    await call();
  } catch (err) {
    return err;
  }
  throw new Error("expected the call to fail");
}

/**
 * Every barrier rule, run against one BarrierStore implementation. Each case
 * uses a fresh key; `makeStore` may return a shared store.
 */
export function barrierContract(name: string, makeStore: () => Promise<BarrierStore> | BarrierStore): void {
  const key = () => `saga-${randomUUID()}/step`;
  const barrier = async (options: BarrierOptions = {}) => new Barrier(await makeStore(), options);

  describe(`barrier on ${name}`, () => {
    it("duplicate Execute returns the stored output without running the handler again", async () => {
      const b = await barrier();
      const k = key();
      const runs = new Runs();
      const handler = async () => {
        runs.execute++;
        return Buffer.from(`out-${runs.execute}`);
      };
      const first = await b.execute(k, handler);
      const second = await b.execute(k, handler);
      expect(text(first)).toBe("out-1");
      expect(text(second)).toBe("out-1");
      expect(runs.execute).toBe(1);
      expect((await b.store.get(k))?.state).toBe("executed");
    });

    it("100 concurrent duplicate Executes run the handler exactly once and all get its output", async () => {
      const store = new ObservedStore(await makeStore());
      // Four barriers on one store stand for four replicas of a participant.
      const replicas = Array.from({ length: 4 }, () => new Barrier(store));
      const k = key();
      const runs = new Runs();
      const running = gatedHandler(Buffer.from(`only-${randomUUID()}`), () => runs.execute++);
      // The handler runs until the duplicates have found it in progress 99 times.
      const duplicatesWaiting = store.when(sawInProgress(k), 99);
      const all = Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          untilDecided(() => (replicas[i % 4] as Barrier).execute(k, running.handler)),
        ),
      );
      await Promise.race([duplicatesWaiting, all]); // a failing call ends the wait too
      running.release();
      const outputs = await all;
      expect(runs.execute).toBe(1);
      expect(new Set(outputs.map(text)).size).toBe(1);
      expect(text(outputs[0] as Uint8Array)).toMatch(/^only-/);
    });

    it("a duplicate that outwaits inProgressWaitMs gets a retryable in-progress refusal, never a second run", async () => {
      const b = await barrier({ inProgressWaitMs: 30 });
      const k = key();
      const runs = new Runs();
      const slow = gatedHandler(Buffer.from("slow"), () => runs.execute++);
      const first = b.execute(k, slow.handler);
      await slow.entered;
      const refusal = await failure(() => b.execute(k, slow.handler));
      expect(refusal).toBeInstanceOf(BarrierRefusal);
      expect((refusal as BarrierRefusal).reason).toBe("in-progress");
      slow.release();
      expect(text(await first)).toBe("slow");
      expect(text(await b.execute(k, slow.handler))).toBe("slow");
      expect(runs.execute).toBe(1);
    });

    it("a waiting duplicate gives up by the call's deadline", async () => {
      const store = new ObservedStore(await makeStore());
      const clock = movableClock();
      // Without the deadline it would wait for the running call for ten minutes.
      const b = new Barrier(store, { inProgressWaitMs: 600_000, clock: clock.now });
      const k = key();
      const running = gatedHandler(Buffer.from("x"));
      const first = b.execute(k, running.handler);
      await running.entered;
      const waiting = store.when(sawInProgress(k));
      const duplicate = failure(() =>
        b.execute(k, async () => Buffer.from("y"), { deadline: clock.now() + 150 }),
      );
      await waiting;
      clock.advance(200); // past the duplicate's deadline
      const refusal = await duplicate;
      expect((refusal as BarrierRefusal).reason).toBe("in-progress");
      running.release();
      expect(text(await first)).toBe("x");
    });

    it("Compensate for a step that never executed records a tombstone without running the handler", async () => {
      const b = await barrier();
      const k = key();
      const runs = new Runs();
      const result = await b.compensate(k, async () => {
        runs.compensate++;
      });
      expect(result).toBe<CompensateResult>("null-compensation");
      expect(runs.compensate).toBe(0);
      expect((await b.store.get(k))?.state).toBe("tombstone");
    });

    it("Execute after the tombstone is refused as hanging and does nothing", async () => {
      const b = await barrier();
      const k = key();
      const runs = new Runs();
      await b.compensate(k, async () => {
        runs.compensate++;
      });
      const refusal = await failure(() =>
        b.execute(k, async () => {
          runs.execute++;
          return Buffer.from("late");
        }),
      );
      expect(refusal).toBeInstanceOf(BarrierRefusal);
      expect((refusal as BarrierRefusal).reason).toBe("hanging");
      expect(runs).toEqual({ execute: 0, compensate: 0 });
      expect((await b.store.get(k))?.state).toBe("tombstone");
    });

    it("Compensate after Execute runs its handler once with the stored output; repeats are no-ops", async () => {
      const b = await barrier();
      const k = key();
      const runs = new Runs();
      const seen: string[] = [];
      await b.execute(k, async () => Buffer.from("charge-42"));
      const compensate = () =>
        b.compensate(k, async (claim) => {
          runs.compensate++;
          seen.push(`${text(claim.executeOutput)}:${claim.executeOutcome}`);
        });
      expect(await compensate()).toBe("compensated");
      expect(await compensate()).toBe("already-done");
      expect(await compensate()).toBe("already-done");
      expect(runs.compensate).toBe(1);
      expect(seen).toEqual(["charge-42:completed"]);
      expect((await b.store.get(k))?.state).toBe("compensated");
    });

    it("100 concurrent duplicate Compensates run the handler exactly once", async () => {
      const store = new ObservedStore(await makeStore());
      const replicas = Array.from({ length: 4 }, () => new Barrier(store));
      const k = key();
      const runs = new Runs();
      await (replicas[0] as Barrier).execute(k, async () => Buffer.from("x"));
      const undo = gatedHandler(undefined, () => runs.compensate++);
      const duplicatesWaiting = store.when(
        (e) => e.op === "insert" && e.record.key === k && e.existing?.state === "compensating",
        99,
      );
      const all = Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          untilDecided(() => (replicas[i % 4] as Barrier).compensate(k, undo.handler)),
        ),
      );
      await Promise.race([duplicatesWaiting, all]);
      undo.release();
      const results = await all;
      expect(runs.compensate).toBe(1);
      expect(results.filter((r) => r === "compensated")).toHaveLength(1);
      expect(results.filter((r) => r === "already-done")).toHaveLength(99);
    });

    it("Execute after the step was compensated is refused and does nothing", async () => {
      const b = await barrier();
      const k = key();
      const runs = new Runs();
      await b.execute(k, async () => Buffer.from("x"));
      await b.compensate(k, async () => {});
      const refusal = await failure(() =>
        b.execute(k, async () => {
          runs.execute++;
          return Buffer.from("again");
        }),
      );
      expect((refusal as BarrierRefusal).reason).toBe("compensated");
      expect(runs.execute).toBe(0);
    });

    it("Compensate while the Execute is still running gets a retryable refusal, then compensates", async () => {
      const b = await barrier({ inProgressWaitMs: 20 });
      const k = key();
      const runs = new Runs();
      const running = gatedHandler(Buffer.from("done"), () => runs.execute++);
      const executing = b.execute(k, running.handler);
      await running.entered;
      const handler = async () => {
        runs.compensate++;
      };
      const refusal = await failure(() => b.compensate(k, handler));
      expect((refusal as BarrierRefusal).reason).toBe("in-progress");
      expect(runs.compensate).toBe(0);
      running.release();
      await executing;
      expect(await b.compensate(k, handler)).toBe("compensated");
      expect(runs).toEqual({ execute: 1, compensate: 1 });
    });

    it("a handler that throws releases its claim so a retry runs it again", async () => {
      const b = await barrier();
      const k = key();
      const runs = new Runs();
      const handler = async () => {
        runs.execute++;
        if (runs.execute === 1) throw new Error("database hiccup");
        return Buffer.from("second time lucky");
      };
      const err = await failure(() => b.execute(k, handler));
      expect((err as Error).message).toBe("database hiccup");
      expect(await b.store.get(k)).toBeNull();
      expect(text(await b.execute(k, handler))).toBe("second time lucky");
      expect(text(await b.execute(k, handler))).toBe("second time lucky");
      expect(runs.execute).toBe(2);
    });

    it("a BusinessFailure is recorded: repeats get the same failure without a run, Compensate has nothing to undo", async () => {
      const b = await barrier();
      const k = key();
      const runs = new Runs();
      const handler = async (): Promise<Uint8Array> => {
        runs.execute++;
        throw new BusinessFailure("insufficient funds");
      };
      for (let i = 0; i < 3; i++) {
        const err = await failure(() => b.execute(k, handler));
        expect(err).toBeInstanceOf(BusinessFailure);
        expect((err as Error).message).toBe("insufficient funds");
      }
      expect(runs.execute).toBe(1);
      expect(
        await b.compensate(k, async () => {
          runs.compensate++;
        }),
      ).toBe("already-done");
      expect(runs.compensate).toBe(0);
    });

    it("a Compensate handler that throws is retried; a late Execute meanwhile is refused", async () => {
      const b = await barrier();
      const k = key();
      const runs = new Runs();
      await b.execute(k, async () => Buffer.from("x"));
      const handler = async () => {
        runs.compensate++;
        if (runs.compensate === 1) throw new Error("refund service down");
      };
      expect(((await failure(() => b.compensate(k, handler))) as Error).message).toBe("refund service down");
      const late = await failure(() => b.execute(k, async () => Buffer.from("y")));
      expect((late as BarrierRefusal).reason).toBe("compensated");
      expect(await b.compensate(k, handler)).toBe("compensated");
      expect(await b.compensate(k, handler)).toBe("already-done");
      expect(runs.compensate).toBe(2);
    });

    it("an Execute whose process died mid-handler is taken over once its lease expires", async () => {
      const store = await makeStore();
      const k = key();
      // What a participant that crashed mid-handler leaves behind.
      await store.insertIfAbsent({
        key: k,
        state: "executing",
        version: 1,
        owner: "dead-process",
        leaseUntil: Date.now() - 1,
        updatedAt: Date.now() - 30_000,
      });
      const runs = new Runs();
      const handler = async () => {
        runs.execute++;
        return Buffer.from("recovered");
      };
      const b = new Barrier(store);
      expect(text(await b.execute(k, handler))).toBe("recovered");
      expect(text(await b.execute(k, handler))).toBe("recovered");
      expect(runs.execute).toBe(1);
    });

    it("an unexpired claim of a dead process blocks (retryably) until its lease ends", async () => {
      const store = await makeStore();
      const clock = movableClock();
      const k = key();
      await store.insertIfAbsent({
        key: k,
        state: "executing",
        version: 1,
        owner: "dead-process",
        leaseUntil: clock.now() + 60_000,
        updatedAt: clock.now(),
      });
      const b = new Barrier(store, { inProgressWaitMs: 20, clock: clock.now });
      const handler = async () => Buffer.from("after lease");
      expect(((await failure(() => b.execute(k, handler))) as BarrierRefusal).reason).toBe("in-progress");
      clock.advance(60_001); // the dead process's lease has run out
      expect(text(await b.execute(k, handler))).toBe("after lease");
    });

    it("Compensate after an interrupted Execute runs the handler and says the Execute was interrupted", async () => {
      const store = await makeStore();
      const k = key();
      await store.insertIfAbsent({
        key: k,
        state: "executing",
        version: 1,
        owner: "dead-process",
        leaseUntil: Date.now() - 1,
        updatedAt: Date.now(),
      });
      const b = new Barrier(store);
      const outcomes: string[] = [];
      expect(await b.compensate(k, async (claim) => void outcomes.push(claim.executeOutcome))).toBe(
        "compensated",
      );
      expect(outcomes).toEqual(["interrupted"]);
      const late = await failure(() => b.execute(k, async () => Buffer.from("y")));
      expect((late as BarrierRefusal).reason).toBe("compensated");
    });

    it("a live handler renews its lease, so a slow call is never taken over", async () => {
      const store = new ObservedStore(await makeStore());
      // A clock that moves only when the test says so: the lease is 90 "ms" long however slow the machine.
      const start = Date.now();
      let now = start;
      const clock = () => now;
      const a = new Barrier(store, { leaseMs: 90, clock });
      const b = new Barrier(store, { leaseMs: 90, inProgressWaitMs: 600_000, clock });
      const k = key();
      const runs = new Runs();
      const running = gatedHandler(Buffer.from("run-1"), () => runs.execute++);
      const first = a.execute(k, running.handler);
      await running.entered;
      now = start + 60;
      // A renewal made at the new time extends the claim to start + 150.
      await store.when(
        (e) => e.op === "update" && e.key === k && e.matched && (e.content.leaseUntil ?? 0) >= start + 150,
      );
      now = start + 100; // Past the first lease period: only the renewal keeps the claim.
      const waiting = store.when(sawInProgress(k));
      const second = b.execute(k, async () => {
        runs.execute++;
        return Buffer.from("taken over");
      });
      await waiting;
      running.release();
      expect([text(await first), text(await second)]).toEqual(["run-1", "run-1"]);
      expect(runs.execute).toBe(1);
    });

    it("a call whose claim was taken over sees its signal abort and cannot record its result", async () => {
      const store = await makeStore();
      const b = new Barrier(store, { leaseMs: 60 });
      const k = key();
      const gate = latch();
      const entered = latch<AbortSignal>();
      const stalled = failure(() =>
        b.execute(k, async (claim) => {
          entered.open(claim.signal);
          await gate.opened;
          return Buffer.from("stale");
        }),
      );
      const signal = await entered.opened;
      const aborted = new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
      // What another replica does once this call's lease expired (e.g. after a long stall).
      const now = Date.now();
      expect(
        await store.update(
          k,
          { state: "executing" },
          { state: "executing", owner: "other-replica", leaseUntil: now + 60_000, updatedAt: now },
        ),
      ).toBe(true);
      await aborted; // A renewal notices the takeover.
      expect(signal.aborted).toBe(true);
      gate.open();
      const err = await stalled;
      expect(err).toBeInstanceOf(BarrierRefusal);
      expect((err as BarrierRefusal).reason).toBe("lease-lost");
      expect((await store.get(k))?.owner).toBe("other-replica");
    });

    it("commit() inside the handler records the output before the handler returns", async () => {
      const b = await barrier();
      const k = key();
      let stateAfterCommit: string | undefined;
      const output = await b.execute(k, async (claim) => {
        await claim.commit(Buffer.from("committed"));
        stateAfterCommit = (await b.store.get(k))?.state;
        return Buffer.from("committed");
      });
      expect(stateAfterCommit).toBe("executed");
      expect(text(output)).toBe("committed");
      expect(text(await b.execute(k, async () => Buffer.from("never")))).toBe("committed");
    });

    it("Execute racing Compensate for the same key ends in one of the two legal orders", async () => {
      const b = await barrier();
      const orders = new Set<string>();
      for (let round = 0; round < 40; round++) {
        const k = key();
        const runs = new Runs();
        const execute = () =>
          untilDecided(() =>
            b.execute(k, async () => {
              runs.execute++;
              // Vary the interleaving: yield to the event loop 0, 1 or 2 times.
              for (let i = 0; i < round % 3; i++) await new Promise((r) => setImmediate(r));
              return Buffer.from("x");
            }),
          );
        const compensate = () =>
          untilDecided(() =>
            b.compensate(k, async () => {
              runs.compensate++;
            }),
          );
        // Both calls start in the same tick; which one is sent first alternates.
        const [executed, compensated] =
          round % 2 === 0
            ? await Promise.allSettled([execute(), compensate()])
            : await Promise.allSettled([compensate(), execute()]).then(([c, e]) => [e, c] as const);
        expect(compensated.status).toBe("fulfilled");
        const result = (compensated as PromiseFulfilledResult<CompensateResult>).value;
        if (executed.status === "fulfilled") {
          // Executed, then compensated: each handler ran exactly once.
          expect(result).toBe("compensated");
          expect(runs).toEqual({ execute: 1, compensate: 1 });
          orders.add("execute-then-compensate");
        } else {
          // Compensated first: tombstone, the Execute is refused, nothing ran.
          expect((executed.reason as BarrierRefusal).reason).toBe("hanging");
          expect(result).toBe("null-compensation");
          expect(runs).toEqual({ execute: 0, compensate: 0 });
          orders.add("tombstone-then-aborted");
        }
        const final = await b.store.get(k);
        expect(final?.state).toBe(executed.status === "fulfilled" ? "compensated" : "tombstone");
      }
      // Alternating which call goes first makes both legal orders show up.
      expect([...orders].sort()).toEqual(["execute-then-compensate", "tombstone-then-aborted"]);
    });
  });
}
