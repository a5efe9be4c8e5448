import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { BusinessFailure } from "../participant/business-failure.js";
import type { BarrierContent, BarrierRecord, ExecuteOutcome } from "./barrier-record.js";
import { BarrierRefusal } from "./barrier-refusal.js";
import type { BarrierStore, BarrierWriteOptions } from "./barrier-store.js";
import { Lease } from "./lease.js";

export interface BarrierOptions {
  /**
   * How long a running handler's claim lasts without renewal. The claim is
   * renewed every third of this while the handler runs, so it only expires
   * when the process died or stalled (event loop blocked, GC pause, lost its
   * database). Shorter: a crashed call is retried sooner. Longer: less risk
   * that a stalled-but-alive call is taken over and its handler runs twice.
   * Default 30 s.
   */
  leaseMs?: number;
  /**
   * How long a duplicate call waits for an in-progress call of the same step
   * before it gives up with a retryable refusal. Capped by the call's own
   * deadline. Default 5 s.
   */
  inProgressWaitMs?: number;
  /** Epoch-ms clock (tests). Default Date.now. */
  clock?: () => number;
  /** Told about store errors that do not fail the call (a lease renewal, a release). */
  onBackgroundError?: (message: string, err: unknown) => void;
}

/** Limits of one barrier call. */
export interface BarrierCallOptions {
  /** Epoch ms: stop waiting for an in-progress duplicate by then. */
  deadline?: number;
  /** Aborts the waiting. */
  signal?: AbortSignal;
}

/** Given to an Execute handler running under the barrier. */
export interface ExecuteClaim {
  /** Aborted when the claim was taken over by another call. */
  signal: AbortSignal;
  /** Writes the final "executed" record now, optionally in the caller's MongoDB session. */
  commit(output: Uint8Array, options?: BarrierWriteOptions): Promise<void>;
}

/** Given to a Compensate handler running under the barrier. */
export interface CompensateClaim {
  signal: AbortSignal;
  /** Execute's output as the barrier recorded it (empty if the Execute was interrupted). */
  executeOutput: Uint8Array;
  executeOutcome: ExecuteOutcome;
  /** Writes the final "compensated" record now, optionally in the caller's MongoDB session. */
  commit(options?: BarrierWriteOptions): Promise<void>;
}

/** What a Compensate through the barrier did. */
export type CompensateResult =
  /** The handler ran and its compensation is recorded. */
  | "compensated"
  /** The step never executed: a tombstone was recorded, the handler did not run. */
  | "null-compensation"
  /** Already compensated (or nothing to undo): the handler did not run. */
  | "already-done";

const DEFAULT_LEASE_MS = 30_000;
const DEFAULT_IN_PROGRESS_WAIT_MS = 5_000;
const EMPTY = new Uint8Array();

/**
 * The idempotency barrier: turns at-least-once delivery of Execute and
 * Compensate into exactly-once effects. One record per step
 * ("<saga_id>/<step>") shared by both calls; every decision is one
 * conditional write on it, so concurrent calls (in one process or in many
 * replicas sharing a MongoDB store) cannot both run a handler.
 */
export class Barrier {
  private readonly leaseMs: number;
  private readonly inProgressWaitMs: number;
  private readonly clock: () => number;
  private readonly onBackgroundError: (message: string, err: unknown) => void;

  constructor(
    readonly store: BarrierStore,
    options: BarrierOptions = {},
  ) {
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.inProgressWaitMs = options.inProgressWaitMs ?? DEFAULT_IN_PROGRESS_WAIT_MS;
    this.clock = options.clock ?? Date.now;
    this.onBackgroundError = options.onBackgroundError ?? (() => {});
  }

  /**
   * Runs `handler` at most once for `key`, however often and however
   * concurrently this is called, and returns its output to every caller.
   * Throws BusinessFailure (replayed from the record), BarrierRefusal, or the
   * handler's own error (after which a later call may run it again).
   */
  async execute(
    key: string,
    handler: (claim: ExecuteClaim) => Promise<Uint8Array>,
    options: BarrierCallOptions = {},
  ): Promise<Uint8Array> {
    const waitUntil = this.waitUntil(options);
    for (let poll = 0; ; poll++) {
      const now = this.clock();
      const owner = randomUUID();
      const claim: BarrierRecord = {
        key,
        state: "executing",
        version: 1,
        owner,
        leaseUntil: now + this.leaseMs,
        updatedAt: now,
      };
      const existing = await this.store.insertIfAbsent(claim);
      if (!existing) return this.runExecute(key, owner, handler);
      switch (existing.state) {
        case "executed":
          return existing.output ?? EMPTY;
        case "failed":
          throw new BusinessFailure(existing.failure ?? "business failure");
        case "tombstone":
          throw new BarrierRefusal(
            "hanging",
            `step ${key} was compensated before it executed; refusing to execute`,
          );
        case "compensating":
        case "compensated":
          throw new BarrierRefusal(
            "compensated",
            `step ${key} has been compensated; refusing to execute again`,
          );
        case "executing": {
          if (this.expired(existing, now)) {
            // The holder died or stalled: take its record over (one conditional write decides among takers).
            const { key: _, version: __, ...content } = claim;
            if (await this.store.update(key, { state: "executing", version: existing.version }, content)) {
              return this.runExecute(key, owner, handler);
            }
            continue;
          }
          await this.waitForInProgress(key, poll, waitUntil, options.signal);
        }
      }
    }
  }

  /**
   * Compensates `key` exactly once: runs `handler` only if the step executed
   * (or its Execute was interrupted), records a tombstone if it never did.
   */
  async compensate(
    key: string,
    handler: (claim: CompensateClaim) => Promise<void>,
    options: BarrierCallOptions = {},
  ): Promise<CompensateResult> {
    const waitUntil = this.waitUntil(options);
    for (let poll = 0; ; poll++) {
      const now = this.clock();
      const owner = randomUUID();
      const tombstone: BarrierRecord = { key, state: "tombstone", version: 1, updatedAt: now };
      const existing = await this.store.insertIfAbsent(tombstone);
      if (!existing) return "null-compensation";
      const lease = { owner, leaseUntil: now + this.leaseMs, updatedAt: now };
      switch (existing.state) {
        case "tombstone":
        case "compensated":
        case "failed": // A business failure took no effect: nothing to undo.
          return "already-done";
        case "executed": {
          const content: BarrierContent = {
            state: "compensating",
            ...lease,
            output: existing.output ?? EMPTY,
            executeOutcome: "completed",
          };
          if (await this.store.update(key, { state: "executed", version: existing.version }, content)) {
            return this.runCompensate(key, content, handler);
          }
          continue;
        }
        case "executing":
        case "compensating": {
          if (this.expired(existing, now)) {
            // An Execute that died mid-handler may have left a partial effect: compensate it.
            const content: BarrierContent = {
              state: "compensating",
              ...lease,
              output: existing.output ?? EMPTY,
              executeOutcome:
                existing.state === "executing" ? "interrupted" : (existing.executeOutcome ?? "completed"),
            };
            if (await this.store.update(key, { state: existing.state, version: existing.version }, content)) {
              return this.runCompensate(key, content, handler);
            }
            continue;
          }
          await this.waitForInProgress(key, poll, waitUntil, options.signal);
        }
      }
    }
  }

  private async runExecute(
    key: string,
    owner: string,
    handler: (claim: ExecuteClaim) => Promise<Uint8Array>,
  ): Promise<Uint8Array> {
    const now = this.clock();
    const lease = this.lease(key, owner, {
      state: "executing",
      owner,
      leaseUntil: now + this.leaseMs,
      updatedAt: now,
    });
    const executed = (output: Uint8Array): BarrierContent => ({
      state: "executed",
      output,
      updatedAt: this.clock(),
    });
    let output: Uint8Array;
    try {
      output = await handler({
        signal: lease.signal,
        commit: async (out, options) => {
          if (!(await lease.finish(executed(out), options))) throw lostLease(key);
        },
      });
    } catch (err) {
      if (err instanceof BusinessFailure) {
        if (!(await lease.finish({ state: "failed", failure: err.message, updatedAt: this.clock() }))) {
          throw lostLease(key);
        }
      } else {
        // Release the claim so a retry can run the handler (no-op if the handler had committed).
        // If even that fails, the claim simply expires with its lease.
        await lease.drop().catch((e) => this.onBackgroundError(`releasing ${key} failed`, e));
      }
      throw err;
    }
    if (await lease.finish(executed(output))) return output;
    // Not held any more: either the handler committed in its own session, or a takeover finished first.
    const record = await this.store.get(key);
    if (record?.state === "executed") return record.output ?? EMPTY;
    throw lostLease(key);
  }

  private async runCompensate(
    key: string,
    content: BarrierContent,
    handler: (claim: CompensateClaim) => Promise<void>,
  ): Promise<CompensateResult> {
    const owner = content.owner as string;
    const lease = this.lease(key, owner, content);
    const compensated = (): BarrierContent => ({
      state: "compensated",
      output: content.output ?? EMPTY,
      executeOutcome: content.executeOutcome ?? "completed",
      updatedAt: this.clock(),
    });
    try {
      await handler({
        signal: lease.signal,
        executeOutput: content.output ?? EMPTY,
        executeOutcome: content.executeOutcome ?? "completed",
        commit: async (options) => {
          if (!(await lease.finish(compensated(), options))) throw lostLease(key);
        },
      });
    } catch (err) {
      // Stay "compensating" with an expired lease: the next Compensate takes over at once,
      // and a late Execute is still refused.
      await lease
        .finish({ ...content, owner: undefined, leaseUntil: 0, updatedAt: this.clock() })
        .catch((e) => this.onBackgroundError(`releasing ${key} failed`, e));
      throw err;
    }
    if (await lease.finish(compensated())) return "compensated";
    const record = await this.store.get(key);
    if (record?.state === "compensated") return "compensated";
    throw lostLease(key);
  }

  private lease(key: string, owner: string, content: BarrierContent): Lease {
    return new Lease(this.store, key, owner, content.state, content, this.leaseMs, this.clock, (err) =>
      this.onBackgroundError(`renewing the lease on ${key} failed`, err),
    );
  }

  private expired(record: BarrierRecord, now: number): boolean {
    return (record.leaseUntil ?? 0) <= now;
  }

  private waitUntil(options: BarrierCallOptions): number {
    const byWait = this.clock() + this.inProgressWaitMs;
    // Leave the caller time to send its answer before its own deadline.
    return options.deadline === undefined ? byWait : Math.min(byWait, options.deadline - 50);
  }

  private async waitForInProgress(key: string, poll: number, waitUntil: number, signal?: AbortSignal) {
    const delay = Math.min(100, 5 * 1.5 ** poll);
    if (this.clock() + delay > waitUntil) {
      throw new BarrierRefusal("in-progress", `another call for step ${key} is still in progress; retry`);
    }
    await sleep(delay, undefined, signal ? { signal } : {});
  }
}

function lostLease(key: string): BarrierRefusal {
  return new BarrierRefusal("lease-lost", `the claim on step ${key} was taken over by another call; retry`);
}
