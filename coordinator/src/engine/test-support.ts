// TEST SUPPORT ONLY — used by the engine's *.test.ts files, never by the
// coordinator itself. It has no vitest import on purpose: the coordinator's

// tsconfig compiles every non-*.test.ts file under src/, and this one must not
// drag a test framework into the build.
//
// It provides small builders for definitions and a `SagaRun` that drives one
// saga through `transition` input by input, with a controllable clock, a
// deterministic context (random() = 0.5, lostCallGraceMs = 5000) and every
// state deep-frozen before it is handed back to the engine, so any mutation of
// an input state throws.

import type { RetryPolicy, SagaDefinition, StepDefinition } from "./saga-definition.js";
import type { FailureKind, HistoryEntry, SagaCommand, SagaInput } from "./saga-input.js";
import { initialState, type TransitionContext, type TransitionResult, transition } from "./saga-machine.js";
import type { SagaState, StepOverride, StepState } from "./saga-state.js";

/** The clock every run starts at (an arbitrary, readable epoch-ms value). */
export const T0 = 1_000_000;
export const GRACE_MS = 5_000;
/** Per-attempt timeout of the test steps unless overridden. */
export const STEP_TIMEOUT_MS = 1_000;

/** Deterministic context: random() = 0.5 and a 5 s lost-call grace. */
export function testContext(now: number, random: () => number = () => 0.5): TransitionContext {
  return { now, random, lostCallGraceMs: GRACE_MS };
}

/** No jitter, so waits are exactly 100, 200, 400, ... ms (capped at 1000). */
export const TEST_RETRY: RetryPolicy = {
  maxAttempts: 3,
  initialBackoffMs: 100,
  maxBackoffMs: 1_000,
  multiplier: 2,
  jitter: 0,
};

export function retry(overrides: Partial<RetryPolicy> = {}): RetryPolicy {
  return { ...TEST_RETRY, ...overrides };
}

export function stepDef(name: string, overrides: Partial<StepDefinition> = {}): StepDefinition {
  return {
    name,
    participant: "svc:50051",
    payload: new TextEncoder().encode(`payload-${name}`),
    contentType: "text/plain",
    dependsOn: [],
    kind: "compensatable",
    retry: TEST_RETRY,
    compensateRetry: TEST_RETRY,
    timeoutMs: STEP_TIMEOUT_MS,
    ...overrides,
  };
}

export function sagaDef(steps: StepDefinition[], overrides: Partial<SagaDefinition> = {}): SagaDefinition {
  return { sagaType: "test.saga", steps, deadlineAt: null, labels: {}, ...overrides };
}

/** Recursively freezes plain objects (typed arrays cannot be frozen and are left as they are). */
export function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== "object" || ArrayBuffer.isView(value) || Object.isFrozen(value)) {
    return value;
  }
  for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  return Object.freeze(value);
}

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
export const text = (data: Uint8Array | null): string | null =>
  data === null ? null : new TextDecoder().decode(data);

/** Commands as short strings, e.g. "execute a#1", "compensate b#2": easy to compare as a set or a list. */
export function describeCommands(commands: readonly SagaCommand[]): string[] {
  return commands.map(
    (c) => `${c.type === "dispatchExecute" ? "execute" : "compensate"} ${c.step}#${c.attempt}`,
  );
}

export interface Changed {
  state: SagaState;
  /** The commands as short strings (see describeCommands). */
  commands: string[];
  rawCommands: SagaCommand[];
  history: HistoryEntry[];
}

class UnexpectedResult extends Error {}

/**
 * Drives one saga through the pure engine. `send` expects a "changed" result
 * and keeps its state; `expectUnchanged` / `expectRejected` expect the other
 * kinds. Every unexpected kind throws with the input and the result.
 */
export class SagaRun {
  state: SagaState;
  now: number;
  /** Every history entry produced so far, in order. */
  readonly history: HistoryEntry[] = [];
  random: () => number = () => 0.5;
  /** Output limits of the context (none unless a test sets them). */
  limits: TransitionContext["limits"];

  constructor(
    readonly def: SagaDefinition,
    options: { now?: number; state?: SagaState } = {},
  ) {
    this.now = options.now ?? T0;
    this.state = deepFreeze(options.state ?? initialState(def));
    deepFreeze(def);
  }

  /** Moves the clock to an absolute time. */
  at(now: number): this {
    this.now = now;
    return this;
  }

  /** Moves the clock forward. */
  after(ms: number): this {
    this.now += ms;
    return this;
  }

  raw(input: SagaInput): TransitionResult {
    const ctx = testContext(this.now, this.random);
    return transition(this.def, this.state, input, this.limits ? { ...ctx, limits: this.limits } : ctx);
  }

  send(input: SagaInput): Changed {
    const result = this.raw(input);
    if (result.kind !== "changed") {
      throw new UnexpectedResult(
        `${JSON.stringify(input)}: expected "changed", got ${JSON.stringify(result)}`,
      );
    }
    this.state = deepFreeze(result.state);
    this.history.push(...result.history);
    return {
      state: result.state,
      commands: describeCommands(result.commands),
      rawCommands: result.commands,
      history: result.history,
    };
  }

  expectUnchanged(input: SagaInput): void {
    const result = this.raw(input);
    if (result.kind !== "unchanged") {
      throw new UnexpectedResult(
        `${JSON.stringify(input)}: expected "unchanged", got ${result.kind} ${JSON.stringify(result)}`,
      );
    }
  }

  /** Returns the rejection message. */
  expectRejected(input: SagaInput): string {
    const result = this.raw(input);
    if (result.kind !== "rejected") {
      throw new UnexpectedResult(`${JSON.stringify(input)}: expected "rejected", got ${result.kind}`);
    }
    return result.message;
  }

  // Shorthands. Results use the step's current attempt number unless given.

  start(): Changed {
    return this.send({ type: "start" });
  }

  ok(step: string, output = `out-${step}`, attempt = this.step(step).attempts): Changed {
    return this.send({ type: "executeSucceeded", step, attempt, output: bytes(output) });
  }

  fail(step: string, failure: FailureKind, error = `${failure} error`, attempt = this.step(step).attempts) {
    return this.send({ type: "executeFailed", step, attempt, failure, error });
  }

  compOk(step: string, attempt = this.step(step).compensateAttempts): Changed {
    return this.send({ type: "compensateSucceeded", step, attempt });
  }

  compFail(
    step: string,
    error = "compensate error",
    attempt = this.step(step).compensateAttempts,
    failure?: FailureKind,
  ) {
    return this.send({ type: "compensateFailed", step, attempt, error, ...(failure ? { failure } : {}) });
  }

  timer(): Changed {
    return this.send({ type: "timerFired" });
  }

  cancel(reason = "client cancelled"): Changed {
    return this.send({ type: "cancel", reason });
  }

  resume(reason = "operator fixed it", overrides?: Record<string, StepOverride>): Changed {
    return this.send({ type: "resume", reason, ...(overrides ? { overrides } : {}) });
  }

  recover(): Changed {
    return this.send({ type: "recover" });
  }

  step(name: string): StepState {
    const s = this.state.steps[name];
    if (!s) throw new UnexpectedResult(`no step ${name} in the state`);
    return s;
  }

  /** Step statuses in definition order, e.g. { a: "SUCCEEDED", b: "EXECUTING" }. */
  statuses(): Record<string, string> {
    return Object.fromEntries(this.def.steps.map((d) => [d.name, this.step(d.name).status]));
  }

  get status(): SagaState["status"] {
    return this.state.status;
  }

  /** History entries of one type, as "step#attempt" strings. */
  historyOf(type: HistoryEntry["type"]): string[] {
    return this.history.filter((h) => h.type === type).map((h) => `${h.step}#${h.attempt}`);
  }
}
