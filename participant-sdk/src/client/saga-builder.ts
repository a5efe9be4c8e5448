import { randomUUID } from "node:crypto";
import {
  type RetryPolicy,
  type StartSagaRequest,
  type StepDefinition,
  StepKind,
} from "@saga-coordinator/proto";
import { durationFromMs } from "./duration.js";

/** A retry policy in milliseconds; unset fields take the coordinator's defaults (saga.proto RetryPolicy). */
export interface RetryInput {
  maxAttempts?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  multiplier?: number;
  /** Fraction of each wait that is randomised, 0..1. Unset: the coordinator's default (0.2). */
  jitter?: number;
}

/** One step's payload and options. Give at most one of json, text, bytes. */
export interface StepInput {
  /** Encoded as JSON, content type "application/json". */
  json?: unknown;
  /** UTF-8 text, content type "text/plain; charset=utf-8" unless given. */
  text?: string;
  /** Raw bytes, content type as given (default none). */
  bytes?: Uint8Array;
  /** Overrides the content type implied by json/text. */
  contentType?: string;
  /** Steps that must complete first (makes the saga a DAG). */
  dependsOn?: string[];
  /** Per-attempt timeout, sent to the participant as the gRPC deadline. */
  timeoutMs?: number;
  /** Retry policy of Execute. */
  retry?: RetryInput;
  /** Retry policy of Compensate. */
  compensateRetry?: RetryInput;
}

/**
 * Builds a StartSagaRequest step by step:
 *
 *   saga("order-checkout")
 *     .step("reserve", "inventory", { json: { sku: "A1", qty: 2 } })
 *     .pivot("charge", "payments", { json: { amount: 4200 } })
 *     .retriable("ship", "shipping", { json: { address: "..." } })
 *
 * Without .id(...), build() picks a random saga id, so a retried StartSaga
 * with the same request is idempotent.
 */
export class SagaBuilder {
  private sagaId = "";
  private deadlineAt: Date | undefined;
  private readonly labels: Record<string, string> = {};
  private readonly steps: StepDefinition[] = [];

  constructor(readonly sagaType: string) {
    if (sagaType === "") throw new TypeError("a saga needs a type");
  }

  /** The saga's id: the idempotency key of the whole saga. */
  id(sagaId: string): this {
    this.sagaId = sagaId;
    return this;
  }

  /** A label for ListSagas filters. */
  label(key: string, value: string): this {
    this.labels[key] = value;
    return this;
  }

  /** Compensate the saga if it has not completed (and its pivot not succeeded) by then. */
  deadline(at: Date): this {
    this.deadlineAt = at;
    return this;
  }

  /** A compensatable step (the default kind). `participant` is "host:port" or a logical name. */
  step(name: string, participant: string, input: StepInput = {}): this {
    return this.add(name, participant, input, StepKind.STEP_KIND_COMPENSATABLE);
  }

  /** The point of no return: never compensated. At most one per saga. */
  pivot(name: string, participant: string, input: StepInput = {}): this {
    return this.add(name, participant, input, StepKind.STEP_KIND_PIVOT);
  }

  /** A step after the pivot, retried until it succeeds. */
  retriable(name: string, participant: string, input: StepInput = {}): this {
    return this.add(name, participant, input, StepKind.STEP_KIND_RETRIABLE);
  }

  /** The request, with a random saga id unless one was set. */
  build(): StartSagaRequest {
    if (this.steps.length === 0) throw new TypeError(`saga "${this.sagaType}" has no steps`);
    return {
      sagaId: this.sagaId || randomUUID(),
      sagaType: this.sagaType,
      steps: this.steps.map((s) => ({ ...s, dependsOn: [...s.dependsOn] })),
      deadline: this.deadlineAt,
      labels: { ...this.labels },
    };
  }

  private add(name: string, participant: string, input: StepInput, kind: StepKind): this {
    if (this.steps.some((s) => s.name === name)) {
      throw new TypeError(`saga "${this.sagaType}" already has a step named "${name}"`);
    }
    const { payload, contentType } = encodePayload(name, input);
    this.steps.push({
      name,
      participant,
      payload,
      contentType,
      dependsOn: input.dependsOn ?? [],
      kind,
      retry: input.retry ? retryPolicy(input.retry) : undefined,
      timeout: input.timeoutMs === undefined ? undefined : durationFromMs(input.timeoutMs),
      compensateRetry: input.compensateRetry ? retryPolicy(input.compensateRetry) : undefined,
    });
    return this;
  }
}

/** Starts a builder for a saga of type `sagaType`. */
export function saga(sagaType: string): SagaBuilder {
  return new SagaBuilder(sagaType);
}

function encodePayload(step: string, input: StepInput): { payload: Buffer; contentType: string } {
  const given = [input.json !== undefined, input.text !== undefined, input.bytes !== undefined].filter(
    Boolean,
  );
  if (given.length > 1) throw new TypeError(`step "${step}": give at most one of json, text, bytes`);
  if (input.json !== undefined) {
    return {
      payload: Buffer.from(JSON.stringify(input.json), "utf8"),
      contentType: input.contentType ?? "application/json",
    };
  }
  if (input.text !== undefined) {
    return {
      payload: Buffer.from(input.text, "utf8"),
      contentType: input.contentType ?? "text/plain; charset=utf-8",
    };
  }
  return { payload: Buffer.from(input.bytes ?? new Uint8Array()), contentType: input.contentType ?? "" };
}

function retryPolicy(input: RetryInput): RetryPolicy {
  return {
    maxAttempts: input.maxAttempts ?? 0,
    initialBackoff: input.initialBackoffMs === undefined ? undefined : durationFromMs(input.initialBackoffMs),
    maxBackoff: input.maxBackoffMs === undefined ? undefined : durationFromMs(input.maxBackoffMs),
    multiplier: input.multiplier ?? 0,
    // In the proto 0 means "no jitter" and a negative value "the default".
    jitter: input.jitter ?? -1,
  };
}
