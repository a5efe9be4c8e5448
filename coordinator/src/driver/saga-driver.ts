import type { Logger } from "pino";
import type { SagaDefinition } from "../engine/saga-definition.js";
import type { SagaCommand, SagaInput } from "../engine/saga-input.js";
import { initialState, transition } from "../engine/saga-machine.js";
import { isTerminal, type StepOverride } from "../engine/saga-state.js";
import type { CoordinatorMetrics } from "../observability/coordinator-metrics.js";
import type { SagaEventRecord, SagaRecord } from "../store/saga-record.js";
import type { SagaStore } from "../store/saga-store.js";
import type { ParticipantTransport } from "../transport/participant-transport.js";
import { CallSlots } from "./call-slots.js";
import { type Clock, systemClock } from "./clock.js";
import { DEFAULT_MAX_CACHED_SAGAS, type DrivenSaga, DrivenSagas } from "./driven-sagas.js";
import { NotOwnerError, SagaConflictError, SagaNotFoundError, SagaRejectedError } from "./driver-errors.js";
import { KeyedQueue } from "./keyed-queue.js";
import { answerInput, outcomeLabel, type PlannedCall, planCall } from "./participant-call.js";
import type { PartitionOwnership } from "./partition-ownership.js";
import type { SagaEventBus } from "./saga-event-bus.js";
import { WakeTimers } from "./wake-timers.js";

export interface DriverOptions {
  /**
   * How often the store is scanned for due sagas this node holds no wake-up
   * for (inserted by an ex-owner, or forgotten after a failed write); the
   * wake-ups of the sagas it drives fire from memory.
   */
  pollIntervalMs: number;
  /** Grace past a step's timeout before an unanswered call is presumed lost and re-sent. */
  lostCallGraceMs: number;
  /** Resolves a step's participant (logical name or host:port) to an address. */
  resolveParticipant: (participant: string) => string;
  partitionOf: (sagaId: string) => number;
  metrics?: CoordinatorMetrics;
  /** Participant calls sent at once by this node; more wait in a queue (default 2,000). */
  maxInFlightCalls?: number;
  /** Of those, at most this many to one participant, so a slow one cannot take them all (default 500). */
  maxInFlightPerParticipant?: number;
  /** Running sagas whose latest record is held in memory (default 10,000); others are read from the store. */
  maxCachedSagas?: number;
  /** Largest step output, and largest total of payloads and outputs of a saga (default: no limit). */
  outputLimits?: { maxOutputBytes: number; maxSagaBytes: number };
  /** Time and the poll timer; a ManualClock in unit tests. */
  clock?: Clock;
  random?: () => number;
}

export interface NewSaga {
  sagaId: string;
  definition: SagaDefinition;
  definitionHash: string;
}

/** A participant call past the in-flight cap: only its key, not the saga, waits in memory. */
interface WaitingCall {
  sagaId: string;
  command: SagaCommand;
  key: string;
  /** The step's participant as the definition names it: the per-participant cap counts by it. */
  participant: string;
}

const MAX_CONFLICT_RETRIES = 20;
export const DEFAULT_MAX_IN_FLIGHT_CALLS = 2_000;
export const DEFAULT_MAX_IN_FLIGHT_PER_PARTICIPANT = 500;

function callKey(planned: PlannedCall): string {
  return `${planned.call.sagaId}/${planned.call.step}/${planned.phase}/${planned.call.attempt}`;
}

/** Whether the saga still waits for this very attempt (a queued call may have been overtaken). */
function stillAwaited(record: SagaRecord, command: SagaCommand): boolean {
  const step = record.state.steps[command.step];
  if (!step) return false;
  return command.type === "dispatchExecute"
    ? step.status === "EXECUTING" && step.attempts === command.attempt
    : step.status === "COMPENSATING" && step.compensateAttempts === command.attempt;
}
const DUE_BATCH = 200;
/** Granularity of the in-memory wake-ups: a retry backoff fires at most this late. */
const WAKE_SLOT_MS = 25;
const RECOVER_BATCH = 500;

/**
 * Drives sagas: applies inputs through the pure state machine, persists each
 * new state with one conditional write BEFORE carrying out its commands, and
 * feeds participant answers back in as inputs. Timers live in the store
 * (nextWakeAt), so a restarted node loses nothing; the sagas this node drives
 * wake from memory, and a slow store poll finds the rest.
 */
export class SagaDriver {
  private readonly queue = new KeyedQueue();
  private readonly driven: DrivenSagas;
  private readonly wakes: WakeTimers;
  /** Calls in flight from this node, so a due timer does not send a duplicate of a live call. */
  private readonly inFlight = new Set<string>();
  /** Calls in flight, in all and per participant, and the calls waiting for a slot. */
  private readonly slots: CallSlots<WaitingCall>;
  /** Participant calls in flight (and the recording of their answers), by partition. */
  private readonly pendingCalls = new Map<Promise<void>, number>();
  private stopPolling: (() => void) | null = null;
  private stopWaking: (() => void) | null = null;
  private polling = false;
  private stopped = true;
  private readonly clock: Clock;
  private readonly random: () => number;

  constructor(
    private readonly store: SagaStore,
    private readonly transport: ParticipantTransport,
    private readonly ownership: PartitionOwnership,
    private readonly bus: SagaEventBus,
    private readonly logger: Logger,
    private readonly options: DriverOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.slots = new CallSlots(
      options.maxInFlightCalls ?? DEFAULT_MAX_IN_FLIGHT_CALLS,
      options.maxInFlightPerParticipant ?? DEFAULT_MAX_IN_FLIGHT_PER_PARTICIPANT,
    );
    this.random = options.random ?? Math.random;
    this.driven = new DrivenSagas(options.maxCachedSagas ?? DEFAULT_MAX_CACHED_SAGAS);
    this.wakes = new WakeTimers(WAKE_SLOT_MS, this.clock.now());
  }

  private now(): number {
    return this.clock.now();
  }

  start(): void {
    this.stopped = false;
    this.stopPolling = this.clock.every(this.options.pollIntervalMs, () => void this.pollDue());
    this.stopWaking = this.clock.every(WAKE_SLOT_MS, () => this.wakeDue());
  }

  /** Stops polling and waits for in-flight participant calls and their transitions to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopPolling?.();
    this.stopPolling = null;
    this.stopWaking?.();
    this.stopWaking = null;
    for (const waiting of this.slots.drain()) this.inFlight.delete(waiting.key);
    while (this.pendingCalls.size > 0) await Promise.allSettled([...this.pendingCalls.keys()]);
  }

  /** Waits until no call of the partition is in flight (used while handing it over). */
  async drainPartition(partition: number): Promise<void> {
    for (;;) {
      const pending = [...this.pendingCalls].filter(([, p]) => p === partition).map(([promise]) => promise);
      if (pending.length === 0) return;
      await Promise.allSettled(pending);
    }
  }

  async startSaga(saga: NewSaga): Promise<{ record: SagaRecord; created: boolean }> {
    const partition = this.options.partitionOf(saga.sagaId);
    const fence = this.ownership.fenceFor(partition);
    if (fence === null) throw new NotOwnerError(`this node does not own partition ${partition}`);
    const now = this.now();
    const record: SagaRecord = {
      sagaId: saga.sagaId,
      partition,
      definition: saga.definition,
      definitionHash: saga.definitionHash,
      // Due at once: if this node dies (or loses the partition) before the start
      // below is written, the partition's owner finds the saga by its timer and starts it.
      state: { ...initialState(saga.definition), nextWakeAt: now },
      version: 0,
      fence,
      createdAt: now,
      updatedAt: now,
      eventSeq: 0,
    };
    const inserted = await this.store.insert(record, []);
    if (!inserted.inserted) {
      if (inserted.existing.definitionHash !== saga.definitionHash) {
        throw new SagaConflictError(
          `saga ${JSON.stringify(saga.sagaId)} already exists with a different definition; use a new saga_id`,
        );
      }
      return { record: inserted.existing, created: false };
    }
    if (inserted.newerFence !== undefined) {
      // Stored, but a newer owner claimed the partition meanwhile: its timer starts the saga.
      this.ownership.lost(partition);
      throw new NotOwnerError(
        `partition ${partition} has a newer owner (fence ${inserted.newerFence} > ${fence})`,
      );
    }
    this.driven.created(record, []);
    this.options.metrics?.sagasStarted.inc({ saga_type: saga.definition.sagaType });
    const started = await this.apply(saga.sagaId, { type: "start" });
    return { record: started, created: true };
  }

  cancel(sagaId: string, reason: string): Promise<SagaRecord> {
    return this.apply(sagaId, { type: "cancel", reason });
  }

  resume(sagaId: string, reason: string, overrides: Record<string, StepOverride> = {}): Promise<SagaRecord> {
    return this.apply(sagaId, { type: "resume", reason, overrides });
  }

  /**
   * Re-sends the in-flight calls of every unfinished saga in `partitions`
   * (default: all this node owns), e.g. after a restart or a takeover.
   */
  async recover(partitions = this.ownership.owned()): Promise<number> {
    // Taken (again): whatever we remembered of these partitions may have moved on elsewhere.
    for (const partition of partitions ?? []) this.forgetPartition(partition);
    let after = "";
    let count = 0;
    for (;;) {
      const batch = await this.store.findActive(partitions, RECOVER_BATCH, after);
      for (const record of batch) {
        this.driven.drop(record.sagaId);
        this.applyInBackground(record.sagaId, { type: "recover" });
      }
      count += batch.length;
      if (batch.length < RECOVER_BATCH) return count;
      after = (batch.at(-1) as SagaRecord).sagaId;
    }
  }

  logRecovered(count: number): void {
    this.logger.info({ count }, "recovering unfinished sagas: re-sending their in-flight calls");
  }

  /** What this node knows of a saga it drives (or just finished), without a store read. */
  peek(sagaId: string): DrivenSaga | undefined {
    const known = this.driven.peek(sagaId);
    if (!known || isTerminal(known.record.state.status)) return known;
    // A running saga is only as fresh as our ownership: another node may drive it now.
    return this.ownership.fenceFor(known.record.partition) === null ? undefined : known;
  }

  /** Forget cached records of partitions this node no longer owns. */
  forgetPartition(partition: number): void {
    this.driven.forgetPartition(partition);
    this.wakes.forgetPartition(partition);
  }

  /** Serialized per saga: load, transition, conditional write, then commands. */
  apply(sagaId: string, input: SagaInput): Promise<SagaRecord> {
    return this.queue.run(sagaId, () => this.applyNow(sagaId, input));
  }

  private async applyNow(sagaId: string, input: SagaInput): Promise<SagaRecord> {
    for (let tries = 0; tries < MAX_CONFLICT_RETRIES; tries++) {
      const current = this.driven.record(sagaId) ?? (await this.load(sagaId));
      if (!current) throw new SagaNotFoundError(sagaId);
      const fence = this.ownership.fenceFor(current.partition);
      if (fence === null) {
        // Not ours any more: what we remember of it may be overtaken at any moment.
        this.driven.drop(sagaId);
        throw new NotOwnerError(`this node does not own partition ${current.partition}`);
      }
      if (current.fence > fence) {
        this.driven.drop(sagaId);
        this.ownership.lost(current.partition);
        throw new NotOwnerError(
          `partition ${current.partition} has a newer owner (fence ${current.fence} > ${fence})`,
        );
      }
      const now = this.now();
      const result = transition(current.definition, current.state, input, {
        now,
        random: this.random,
        lostCallGraceMs: this.options.lostCallGraceMs,
        ...(this.options.outputLimits ? { limits: this.options.outputLimits } : {}),
      });
      if (result.kind === "unchanged") return current;
      if (result.kind === "rejected") throw new SagaRejectedError(result.message);

      const events: SagaEventRecord[] = result.history.map((h, i) => ({
        sagaId,
        sequence: current.eventSeq + i + 1,
        type: h.type,
        time: now,
        step: h.step,
        attempt: h.attempt,
        status: result.state.status,
        detail: h.detail,
      }));
      const next: SagaRecord = {
        ...current,
        state: result.state,
        version: current.version + 1,
        fence,
        updatedAt: now,
        eventSeq: current.eventSeq + events.length,
      };
      let written: boolean;
      try {
        written = await this.store.update(next, current.version, events);
      } catch (err) {
        this.driven.drop(sagaId);
        throw err;
      }
      if (!written) {
        // Someone else wrote first (another node, or an ex-owner): reload and decide again.
        this.driven.drop(sagaId);
        continue;
      }
      this.driven.written(next, events, isTerminal(next.state.status));
      this.wakes.set(sagaId, next.partition, next.state.nextWakeAt);
      this.bus.publish(sagaId, events);
      this.logTransition(next, input);
      const status = next.state.status;
      if (status !== current.state.status && (isTerminal(status) || status === "FAILED")) {
        this.options.metrics?.sagasFinished.inc({ saga_type: next.definition.sagaType, status });
      }
      for (const command of result.commands) this.dispatch(next, command);
      return next;
    }
    throw new Error(`saga ${sagaId}: gave up after ${MAX_CONFLICT_RETRIES} conflicting writes`);
  }

  /** Reads a saga this node holds nothing of (or evicted) and remembers it. */
  private async load(sagaId: string): Promise<SagaRecord | null> {
    const stored = await this.store.get(sagaId);
    if (!stored) return null;
    this.driven.loaded(stored);
    this.wakes.set(sagaId, stored.partition, stored.state.nextWakeAt);
    return stored;
  }

  private applyInBackground(sagaId: string, input: SagaInput): void {
    this.apply(sagaId, input).catch((err: unknown) => {
      const log = this.logger.child({ sagaId });
      if (err instanceof NotOwnerError) log.info({ reason: err.message }, "not driving saga: not the owner");
      else log.error({ err, input: input.type }, "failed to apply input; the saga's timer will retry");
    });
  }

  /**
   * Sends the call a command asks for, then feeds the answer back in; at most
   * one live call per attempt. Past `maxInFlightCalls` (or the participant's
   * own cap) the call waits in a queue that holds only its key (memory stays
   * bounded however many sagas wait on a slow participant); its dispatch is
   * already durable.
   */
  private dispatch(record: SagaRecord, command: SagaCommand): void {
    const planned = planCall(record, command);
    if (!planned) return;
    const key = callKey(planned);
    if (this.inFlight.has(key) || this.ownership.isDraining(record.partition)) return;
    this.inFlight.add(key);
    if (!this.slots.tryTake(planned.participant)) {
      this.slots.enqueue(planned.participant, {
        sagaId: record.sagaId,
        command,
        key,
        participant: planned.participant,
      });
      return;
    }
    this.send(record.partition, planned, key);
  }

  /** Sends a call whose slot is already taken, and gives the slot back when its answer is recorded. */
  private send(partition: number, planned: PlannedCall, key: string): void {
    const { sagaId, step, attempt } = planned.call;
    const log = this.logger.child({ sagaId, step, attempt, phase: planned.phase });
    const pending: Promise<void> = this.callParticipant(planned, log)
      .then((input) => this.apply(sagaId, input))
      .then(
        () => undefined,
        (err: unknown) => {
          if (err instanceof NotOwnerError)
            log.info({ reason: err.message }, "answer dropped: no longer the owner");
          else log.error({ err }, "failed to record the participant's answer; the saga's timer will re-send");
        },
      )
      .finally(() => {
        this.slots.release(planned.participant);
        this.inFlight.delete(key);
        this.pendingCalls.delete(pending);
        this.sendWaiting();
      });
    this.pendingCalls.set(pending, partition);
  }

  /** Sends queued calls that are still what their saga waits for, while slots are free. */
  private sendWaiting(): void {
    for (let next = this.slots.nextRunnable(); next; next = this.slots.nextRunnable()) {
      const waiting = next.item;
      const record = this.stopped ? undefined : this.driven.record(waiting.sagaId);
      if (record) this.sendIfAwaited(record, waiting);
      else if (this.stopped) this.dropWaiting(waiting);
      else this.loadThenSend(waiting);
    }
  }

  /** A queued call that will not be sent: its slot and its key are given back. */
  private dropWaiting(waiting: WaitingCall): void {
    this.slots.release(waiting.participant);
    this.inFlight.delete(waiting.key);
  }

  /**
   * Sends a queued call (its slot taken) unless the saga has moved on, or its
   * partition is being handed over.
   */
  private sendIfAwaited(record: SagaRecord, waiting: WaitingCall): void {
    const planned = planCall(record, waiting.command);
    if (!planned || !stillAwaited(record, waiting.command) || this.ownership.isDraining(record.partition)) {
      // Superseded: the saga's durable timer re-sends whatever is still due.
      this.dropWaiting(waiting);
      return;
    }
    this.send(record.partition, planned, waiting.key);
  }

  /**
   * The saga of a queued call was evicted from memory while it waited (many
   * sagas parked on a slow participant): read it back, in its turn, then send.
   * The slot is held meanwhile so reads cannot outrun the cap.
   */
  private loadThenSend(waiting: WaitingCall): void {
    const loaded = this.queue.run(waiting.sagaId, async () => {
      const record = this.driven.record(waiting.sagaId) ?? (await this.load(waiting.sagaId));
      return record && this.ownership.fenceFor(record.partition) !== null ? record : null;
    });
    loaded
      .then(
        (record) => {
          if (record && !this.stopped) this.sendIfAwaited(record, waiting);
          else this.dropWaiting(waiting);
        },
        (err: unknown) => {
          this.dropWaiting(waiting);
          this.logger.warn(
            { err, sagaId: waiting.sagaId },
            "could not read a queued call's saga; its timer re-sends it",
          );
        },
      )
      .finally(() => this.sendWaiting());
  }

  private async callParticipant(planned: PlannedCall, log: Logger): Promise<SagaInput> {
    const address = this.options.resolveParticipant(planned.participant);
    const timer = this.options.metrics?.participantCalls.startTimer({ phase: planned.phase });
    log.debug({ address }, "calling participant");
    const outcome =
      planned.phase === "execute"
        ? await this.transport.execute(address, planned.call, planned.timeoutMs)
        : await this.transport.compensate(address, planned.call, planned.timeoutMs);
    timer?.({ outcome: outcomeLabel(outcome) });
    if (!outcome.ok) {
      // A business "no" is an expected outcome; a permanent refusal needs an operator.
      const level =
        outcome.failure === "business" ? "info" : outcome.failure === "permanent" ? "error" : "warn";
      log[level]({ failure: outcome.failure, error: outcome.error }, `${planned.phase} failed`);
    }
    return answerInput(planned, outcome);
  }

  /** Fires the in-memory wake-ups that came due, for partitions still driven here. */
  private wakeDue(): void {
    if (this.stopped) return;
    for (const { sagaId, partition } of this.wakes.takeDue(this.now())) {
      if (this.ownership.fenceFor(partition) === null) continue;
      this.applyInBackground(sagaId, { type: "timerFired" });
    }
  }

  private async pollDue(): Promise<void> {
    if (this.polling || this.stopped) return;
    this.polling = true;
    try {
      const due = await this.store.findDue(this.now(), this.ownership.owned(), DUE_BATCH);
      for (const record of due) {
        if (this.queue.has(record.sagaId)) continue;
        if (this.ownership.fenceFor(record.partition) === null) continue;
        this.applyInBackground(record.sagaId, { type: "timerFired" });
      }
    } catch (err) {
      this.logger.warn({ err }, "polling for due sagas failed; will retry");
    } finally {
      this.polling = false;
    }
  }

  private logTransition(record: SagaRecord, input: SagaInput): void {
    if (record.state.status !== "FAILED" && !this.logger.isLevelEnabled("debug")) return;
    const log = this.logger.child({ sagaId: record.sagaId, sagaType: record.definition.sagaType });
    const step = "step" in input ? input.step : undefined;
    const attempt = "attempt" in input ? input.attempt : undefined;
    if (record.state.status === "FAILED") {
      log.error(
        { step, attempt, reason: record.state.reason },
        "saga FAILED: needs an operator (AdminService.ResumeSaga)",
      );
    } else {
      log.debug(
        { input: input.type, step, attempt, status: record.state.status, version: record.version },
        "transition",
      );
    }
  }
}
