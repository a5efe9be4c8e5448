import {
  type StepDefinition as ProtoStep,
  type Saga,
  type SagaEvent,
  SagaEventType,
  SagaStatus,
  StepKind,
  StepStatus,
} from "@saga-coordinator/proto";
import { effectiveDefinition } from "../engine/effective-definition.js";
import type { RetryPolicy, StepDefinition } from "../engine/saga-definition.js";
import type { SagaStatus as EngineSagaStatus } from "../engine/saga-state.js";
import { splitSagaKey } from "../store/saga-key.js";
import type { SagaEventRecord, SagaRecord } from "../store/saga-record.js";

const msToDuration = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 });

export function sagaStatusToProto(s: EngineSagaStatus): SagaStatus {
  return SagaStatus[`SAGA_STATUS_${s}`];
}

export function sagaStatusFromProto(s: SagaStatus): EngineSagaStatus | undefined {
  if (s === SagaStatus.SAGA_STATUS_UNSPECIFIED) return undefined;
  return SagaStatus[s]?.replace("SAGA_STATUS_", "") as EngineSagaStatus | undefined;
}

function retryToProto(p: RetryPolicy) {
  return {
    maxAttempts: p.maxAttempts,
    initialBackoff: msToDuration(p.initialBackoffMs),
    maxBackoff: msToDuration(p.maxBackoffMs),
    multiplier: p.multiplier,
    jitter: p.jitter,
  };
}

function stepToProto(s: StepDefinition): ProtoStep {
  const kind = {
    compensatable: StepKind.STEP_KIND_COMPENSATABLE,
    pivot: StepKind.STEP_KIND_PIVOT,
    retriable: StepKind.STEP_KIND_RETRIABLE,
  }[s.kind];
  return {
    name: s.name,
    participant: s.participant,
    payload: Buffer.from(s.payload),
    contentType: s.contentType,
    dependsOn: s.dependsOn,
    kind,
    retry: retryToProto(s.retry),
    compensateRetry: retryToProto(s.compensateRetry),
    timeout: msToDuration(s.timeoutMs),
  };
}

export function sagaToProto(r: SagaRecord): Saga {
  // Plain fields, no spread: a spread at the head of a literal gives V8 slow objects (hot path).
  const { namespace, sagaId } = splitSagaKey(r.sagaId);
  return {
    sagaId,
    namespace,
    sagaType: r.definition.sagaType,
    status: sagaStatusToProto(r.state.status),
    // As the saga runs now: with the step overrides of a ResumeSaga.
    steps: effectiveDefinition(r.definition, r.state).steps.map((d) => {
      const s = r.state.steps[d.name];
      return {
        definition: stepToProto(d),
        status: s ? StepStatus[`STEP_STATUS_${s.status}`] : StepStatus.STEP_STATUS_UNSPECIFIED,
        attempts: s?.attempts ?? 0,
        compensateAttempts: s?.compensateAttempts ?? 0,
        output: Buffer.from(s?.output ?? new Uint8Array()),
        lastError: s?.lastError ?? "",
        nextAttemptAt: s?.nextAttemptAt ? new Date(s.nextAttemptAt) : undefined,
        outcomeUnknown: s?.outcomeUnknown ?? false,
      };
    }),
    labels: r.definition.labels,
    createdAt: new Date(r.createdAt),
    updatedAt: new Date(r.updatedAt),
    deadline: r.definition.deadlineAt !== null ? new Date(r.definition.deadlineAt) : undefined,
    reason: r.state.reason,
    version: r.version,
  };
}

export function eventToProto(e: SagaEventRecord): SagaEvent {
  const { namespace, sagaId } = splitSagaKey(e.sagaId);
  return {
    sagaId,
    namespace,
    sequence: e.sequence,
    type: SagaEventType[`SAGA_EVENT_TYPE_${e.type}`],
    time: new Date(e.time),
    step: e.step,
    attempt: e.attempt,
    status: sagaStatusToProto(e.status),
    detail: e.detail,
  };
}
