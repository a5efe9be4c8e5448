import {
  type Duration,
  type RetryPolicy as ProtoRetryPolicy,
  type StartSagaRequest,
  StepKind,
} from "@saga-coordinator/proto";
import {
  DEFAULT_COMPENSATE_RETRY,
  DEFAULT_EXECUTE_RETRY,
  DEFAULT_STEP_TIMEOUT_MS,
  type StepKind as EngineStepKind,
  type RetryPolicy,
  type SagaDefinition,
} from "../engine/saga-definition.js";

/** A request field that cannot even be turned into a definition. */
export class RequestShapeError extends Error {}

const KINDS: Record<number, EngineStepKind> = {
  [StepKind.STEP_KIND_UNSPECIFIED]: "compensatable",
  [StepKind.STEP_KIND_COMPENSATABLE]: "compensatable",
  [StepKind.STEP_KIND_PIVOT]: "pivot",
  [StepKind.STEP_KIND_RETRIABLE]: "retriable",
};

/**
 * Maps StartSagaRequest onto the engine's definition, filling documented
 * defaults for unset fields. Values are carried over as given (negative
 * durations included) so that validateDefinition can name what is wrong.
 */
export function definitionFromRequest(req: StartSagaRequest): SagaDefinition {
  return {
    sagaType: req.sagaType,
    deadlineAt: req.deadline ? req.deadline.getTime() : null,
    labels: { ...req.labels },
    steps: req.steps.map((s, i) => {
      const kind = KINDS[s.kind];
      if (!kind) {
        throw new RequestShapeError(
          `steps[${i}].kind: unknown value ${s.kind}; allowed STEP_KIND_COMPENSATABLE, STEP_KIND_PIVOT, STEP_KIND_RETRIABLE`,
        );
      }
      return {
        name: s.name,
        participant: s.participant,
        payload: new Uint8Array(s.payload),
        contentType: s.contentType,
        dependsOn: [...s.dependsOn],
        kind,
        retry: retryPolicy(s.retry, DEFAULT_EXECUTE_RETRY, `steps[${i}].retry`),
        compensateRetry: retryPolicy(
          s.compensateRetry,
          DEFAULT_COMPENSATE_RETRY,
          `steps[${i}].compensate_retry`,
        ),
        timeoutMs: s.timeout ? durationMs(s.timeout, `steps[${i}].timeout`) : DEFAULT_STEP_TIMEOUT_MS,
      };
    }),
  };
}

export function retryPolicy(
  p: ProtoRetryPolicy | undefined,
  defaults: RetryPolicy,
  field: string,
): RetryPolicy {
  if (!p) return { ...defaults };
  return {
    maxAttempts: p.maxAttempts === 0 ? defaults.maxAttempts : p.maxAttempts,
    initialBackoffMs: p.initialBackoff
      ? durationMs(p.initialBackoff, `${field}.initial_backoff`)
      : defaults.initialBackoffMs,
    maxBackoffMs: p.maxBackoff ? durationMs(p.maxBackoff, `${field}.max_backoff`) : defaults.maxBackoffMs,
    multiplier: p.multiplier === 0 ? defaults.multiplier : p.multiplier,
    jitter: p.jitter < 0 ? defaults.jitter : p.jitter,
  };
}

/** A Duration in ms; a RequestShapeError naming `field` when it is not a valid Duration. */
export function durationMs(d: Duration, field: string): number {
  const validNanos =
    Number.isInteger(d.nanos) &&
    Math.abs(d.nanos) <= 999_999_999 &&
    (d.nanos === 0 || d.seconds === 0 || Math.sign(d.nanos) === Math.sign(d.seconds));
  if (!validNanos) {
    throw new RequestShapeError(
      `${field}: nanos ${d.nanos} is out of range; allowed -999999999..999999999, with the sign of seconds`,
    );
  }
  return d.seconds * 1000 + Math.trunc(d.nanos / 1_000_000);
}
