import { Binary } from "mongodb";
import type { SagaDefinition, StepDefinition } from "../engine/saga-definition.js";
import type { SagaState, StepState } from "../engine/saga-state.js";
import type { SagaEventRecord, SagaRecord } from "./saga-record.js";

// The MongoDB shape of a saga. Maps keyed by user-chosen names (steps, labels)
// become arrays, because such names may contain "." or start with "$", which
// MongoDB field names must not. Queried fields are copied to the top level.

export interface SagaDocument {
  _id: string;
  partition: number;
  status: string;
  sagaType: string;
  /** "key=value" per label, for $all queries. */
  labelPairs: string[];
  nextWakeAt: number | null;
  definition: DefinitionDocument;
  definitionHash: string;
  state: StateDocument;
  version: number;
  fence: number;
  createdAt: number;
  updatedAt: number;
  eventSeq: number;
  /** The events of the last transition: an outbox flushed into the events collection (see mongo-saga-store.ts). */
  pendingEvents: EventDocument[];
}

interface DefinitionDocument extends Omit<SagaDefinition, "steps" | "labels"> {
  steps: (Omit<StepDefinition, "payload"> & { payload: Binary })[];
  labels: { key: string; value: string }[];
}

interface StateDocument extends Omit<SagaState, "steps"> {
  steps: (Omit<StepState, "output"> & { name: string; output: Binary | null })[];
}

export interface EventDocument extends SagaEventRecord {
  _id: string;
}

const bin = (bytes: Uint8Array) => new Binary(bytes);
const bytes = (b: Binary | Uint8Array) =>
  b instanceof Binary ? new Uint8Array(b.buffer) : new Uint8Array(b);

export function labelPair(key: string, value: string): string {
  return `${key}=${value}`;
}

export function toDocument(r: SagaRecord, pendingEvents: SagaEventRecord[]): SagaDocument {
  return {
    _id: r.sagaId,
    partition: r.partition,
    status: r.state.status,
    sagaType: r.definition.sagaType,
    labelPairs: Object.entries(r.definition.labels).map(([k, v]) => labelPair(k, v)),
    nextWakeAt: r.state.nextWakeAt,
    definition: {
      ...r.definition,
      steps: r.definition.steps.map((s) => ({ ...s, payload: bin(s.payload) })),
      labels: Object.entries(r.definition.labels).map(([key, value]) => ({ key, value })),
    },
    definitionHash: r.definitionHash,
    state: {
      ...r.state,
      steps: r.definition.steps.map((d) => {
        const s = r.state.steps[d.name] as StepState;
        return { ...s, name: d.name, output: s.output ? bin(s.output) : null };
      }),
    },
    version: r.version,
    fence: r.fence,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    eventSeq: r.eventSeq,
    pendingEvents: pendingEvents.map(toEventDocument),
  };
}

export function fromDocument(d: SagaDocument): SagaRecord {
  const steps: Record<string, StepState> = {};
  for (const { name, output, ...rest } of d.state.steps) {
    steps[name] = { ...rest, output: output ? bytes(output) : null };
  }
  return {
    sagaId: d._id,
    partition: d.partition,
    definition: {
      sagaType: d.definition.sagaType,
      deadlineAt: d.definition.deadlineAt,
      steps: d.definition.steps.map((s) => ({ ...s, payload: bytes(s.payload) })),
      labels: Object.fromEntries(d.definition.labels.map((l) => [l.key, l.value])),
    },
    definitionHash: d.definitionHash,
    state: { status: d.state.status, reason: d.state.reason, nextWakeAt: d.state.nextWakeAt, steps },
    version: d.version,
    fence: d.fence,
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
    eventSeq: d.eventSeq,
  };
}

export function toEventDocument(e: SagaEventRecord): EventDocument {
  // Zero-padded so that _id order is sequence order.
  return { _id: `${e.sagaId}#${String(e.sequence).padStart(12, "0")}`, ...e };
}

export function fromEventDocument({ _id, ...e }: EventDocument): SagaEventRecord {
  return e;
}
