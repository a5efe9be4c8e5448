import type { RetryPolicy, SagaDefinition } from "./saga-definition.js";
import { ancestorsOf, sagaGraph } from "./saga-graph.js";

/** Documented limits, enforced at StartSaga. Configurable per coordinator. */
export interface DefinitionLimits {
  maxSteps: number;
  maxPayloadBytes: number;
  maxLabels: number;
  /**
   * Participant calls one saga may ask for at most: the sum over its steps of
   * max_attempts of retry and compensate_retry (RETRIABLE steps count theirs
   * too). Many parallel steps times many attempts is otherwise a call storm.
   */
  maxAttemptsPerSaga: number;
  /** Shortest initial backoff a retry policy may ask for. */
  minBackoffMs: number;
  /** Payloads plus outputs one saga may hold (its stored record must fit the store). */
  maxSagaBytes: number;
}

export const DEFAULT_LIMITS: DefinitionLimits = {
  maxSteps: 100,
  maxPayloadBytes: 1024 * 1024,
  maxLabels: 16,
  maxAttemptsPerSaga: 10_000,
  minBackoffMs: 10,
  maxSagaBytes: 8 * 1024 * 1024,
};

/** The last instant a protobuf Timestamp may name (9999-12-31T23:59:59.999Z). */
const MAX_TIME_MS = 253_402_300_799_999;
const HOUR_MS = 3_600_000;
const STEP_NAME = /^[A-Za-z0-9._-]{1,64}$/;
const SAGA_TYPE = /^[A-Za-z0-9._:-]{1,64}$/;
const LABEL_KEY = /^[A-Za-z0-9._/-]{1,63}$/;

/**
 * Checks a definition against the rules of DESIGN §4 and the limits. Returns
 * the first problem as "<field>: <what is wrong>; <what is allowed>", or null.
 * The first problem only: one precise message beats a wall of them.
 */
export function validateDefinition(
  def: SagaDefinition,
  limits: DefinitionLimits,
  now: number,
): string | null {
  if (!SAGA_TYPE.test(def.sagaType)) {
    return `saga_type: ${JSON.stringify(def.sagaType)} is not valid; use 1..64 characters of [A-Za-z0-9._:-]`;
  }
  if (def.steps.length === 0) return "steps: a saga needs at least one step";
  if (def.steps.length > limits.maxSteps) {
    return `steps: ${def.steps.length} steps given; at most ${limits.maxSteps} steps per saga are allowed`;
  }
  const labelKeys = Object.keys(def.labels);
  if (labelKeys.length > limits.maxLabels) {
    return `labels: ${labelKeys.length} labels given; at most ${limits.maxLabels} are allowed`;
  }
  for (const key of labelKeys) {
    if (!LABEL_KEY.test(key)) {
      return `labels: key ${JSON.stringify(key)} is not valid; use 1..63 characters of [A-Za-z0-9._/-]`;
    }
    if ((def.labels[key] ?? "").length > 256) return `labels[${key}]: value is longer than 256 characters`;
  }
  if (def.deadlineAt !== null && !(Number.isFinite(def.deadlineAt) && def.deadlineAt <= MAX_TIME_MS)) {
    return "deadline: is not a time this coordinator can keep; allowed up to 9999-12-31T23:59:59Z";
  }
  if (def.deadlineAt !== null && def.deadlineAt <= now) {
    return "deadline: is in the past; give a time in the future or leave it unset";
  }

  const names = new Set<string>();
  for (const [i, step] of def.steps.entries()) {
    const at = `steps[${i}]`;
    if (step.name === "")
      return `${at}.name: is empty; every step needs a name of 1..64 characters of [A-Za-z0-9._-]`;
    if (!STEP_NAME.test(step.name)) {
      return `${at}.name: ${JSON.stringify(step.name)} is not valid; use 1..64 characters of [A-Za-z0-9._-]`;
    }
    if (names.has(step.name))
      return `${at}.name: duplicate step name ${JSON.stringify(step.name)}; names must be unique`;
    names.add(step.name);
    if (step.participant === "") {
      return `${at}.participant: is empty; give a host:port address or a participant name from the coordinator's config`;
    }
    if (step.participant.length > 256) return `${at}.participant: longer than 256 characters`;
    if (step.payload.byteLength > limits.maxPayloadBytes) {
      return `${at}.payload: ${step.payload.byteLength} bytes; at most ${limits.maxPayloadBytes} bytes are allowed`;
    }
    if (step.contentType.length > 128) return `${at}.content_type: longer than 128 characters`;
    const timeoutProblem = checkTimeout(`${at}.timeout`, step.timeoutMs);
    if (timeoutProblem) return `${timeoutProblem} (unset means 30s)`;
    const retryProblem =
      checkRetry(`${at}.retry`, step.retry, limits.minBackoffMs) ??
      checkRetry(`${at}.compensate_retry`, step.compensateRetry, limits.minBackoffMs);
    if (retryProblem) return retryProblem;
  }
  const payloadBytes = def.steps.reduce((sum, s) => sum + s.payload.byteLength, 0);
  if (payloadBytes > limits.maxSagaBytes) {
    return `steps: the payloads total ${payloadBytes} bytes; at most ${limits.maxSagaBytes} per saga are allowed (payloads and outputs together)`;
  }
  const attempts = def.steps.reduce((sum, s) => sum + s.retry.maxAttempts + s.compensateRetry.maxAttempts, 0);
  if (attempts > limits.maxAttemptsPerSaga) {
    return `steps: the retry policies allow ${attempts} participant calls in all (max_attempts of retry plus compensate_retry, summed over the steps); at most ${limits.maxAttemptsPerSaga} per saga are allowed`;
  }

  for (const [i, step] of def.steps.entries()) {
    for (const dep of step.dependsOn) {
      if (dep === step.name)
        return `steps[${i}].depends_on: step ${JSON.stringify(step.name)} depends on itself`;
      if (!names.has(dep)) {
        return `steps[${i}].depends_on: unknown step ${JSON.stringify(dep)}; depends_on may only name steps of this saga`;
      }
    }
  }
  const cycle = findCycle(def);
  if (cycle) return `steps: depends_on has a cycle: ${cycle.join(" -> ")}; the steps must form a DAG`;
  return checkKinds(def);
}

/** A per-attempt timeout must be 1 ms .. 1 h. */
export function checkTimeout(at: string, timeoutMs: number): string | null {
  if (Number.isFinite(timeoutMs) && timeoutMs >= 1 && timeoutMs <= HOUR_MS) return null;
  return `${at}: ${timeoutMs}ms is out of range; allowed 1ms..1h`;
}

export function checkRetry(at: string, policy: RetryPolicy, minBackoffMs: number): string | null {
  if (policy.maxAttempts < 1 || policy.maxAttempts > 1000) {
    return `${at}.max_attempts: ${policy.maxAttempts} is out of range; allowed 1..1000 (0 means the default)`;
  }
  if (
    !Number.isFinite(policy.initialBackoffMs) ||
    policy.initialBackoffMs < minBackoffMs ||
    policy.initialBackoffMs > HOUR_MS
  ) {
    return `${at}.initial_backoff: ${policy.initialBackoffMs}ms is out of range; allowed ${minBackoffMs}ms..1h`;
  }
  if (
    !Number.isFinite(policy.maxBackoffMs) ||
    policy.maxBackoffMs < policy.initialBackoffMs ||
    policy.maxBackoffMs > HOUR_MS
  ) {
    return `${at}.max_backoff: ${policy.maxBackoffMs}ms is out of range; allowed initial_backoff..1h`;
  }
  if (!(policy.multiplier >= 1 && policy.multiplier <= 10)) {
    return `${at}.multiplier: ${policy.multiplier} is out of range; allowed 1.0..10.0 (0 means 2.0)`;
  }
  if (!(policy.jitter >= 0 && policy.jitter <= 1)) {
    return `${at}.jitter: ${policy.jitter} is out of range; allowed 0..1 (negative means 0.2)`;
  }
  return null;
}

function findCycle(def: SagaDefinition): string[] | null {
  const graph = sagaGraph(def);
  const state = new Map<string, "visiting" | "done">();
  const path: string[] = [];
  const visit = (name: string): string[] | null => {
    if (state.get(name) === "done") return null;
    if (state.get(name) === "visiting") return [...path.slice(path.indexOf(name)), name];
    state.set(name, "visiting");
    path.push(name);
    for (const dep of graph.dependencies.get(name) ?? []) {
      const found = visit(dep);
      if (found) return found;
    }
    path.pop();
    state.set(name, "done");
    return null;
  };
  for (const step of def.steps) {
    const found = visit(step.name);
    if (found) return found;
  }
  return null;
}

/**
 * Pivot rules: at most one pivot; every compensatable step must be an
 * ancestor of it (so everything compensatable is done before the point of no
 * return); every retriable step must descend from it (nothing runs beside it).
 */
function checkKinds(def: SagaDefinition): string | null {
  const graph = sagaGraph(def);
  const pivots = def.steps.filter((s) => s.kind === "pivot");
  if (pivots.length > 1) {
    return `steps: ${pivots.length} pivot steps (${pivots.map((p) => p.name).join(", ")}); at most one pivot per saga`;
  }
  const pivot = pivots[0];
  if (!pivot) {
    const retriable = def.steps.find((s) => s.kind === "retriable");
    if (retriable) {
      return `steps[${def.steps.indexOf(retriable)}].kind: retriable step ${JSON.stringify(retriable.name)} needs a pivot before it; retriable steps come after the pivot`;
    }
    return null;
  }
  const beforePivot = ancestorsOf(graph, pivot.name);
  for (const [i, step] of def.steps.entries()) {
    if (step === pivot) continue;
    if (step.kind === "compensatable" && !beforePivot.has(step.name)) {
      return `steps[${i}].kind: compensatable step ${JSON.stringify(step.name)} is not before pivot ${JSON.stringify(pivot.name)}; every compensatable step must be a dependency of the pivot (after it only retriable steps are allowed)`;
    }
    if (step.kind === "retriable" && !ancestorsOf(graph, step.name).has(pivot.name)) {
      return `steps[${i}].kind: retriable step ${JSON.stringify(step.name)} does not come after pivot ${JSON.stringify(pivot.name)}; retriable steps must depend on the pivot`;
    }
  }
  return null;
}
