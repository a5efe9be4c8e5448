import { Binary } from "mongodb";
import type { SagaDefinition, StepDefinition } from "../engine/saga-definition.js";
import { isTerminal, type SagaState, type StepState } from "../engine/saga-state.js";
import type { SagaEventRecord, SagaRecord } from "./saga-record.js";

// The MongoDB shape of a saga. Maps keyed by user-chosen names (steps, labels)
// become arrays, because such names may contain "." or start with "$", which
// MongoDB field names must not. Queried fields are copied to the top level.

export interface SagaDocument {
  _id: string;
  partition: number;
  status: string;
  /** True until the saga is COMPLETED or COMPENSATED: what timers and recovery look at. */
  open: boolean;
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
  /**
   * The saga's history, appended ($push) by the same conditional write as the
   * state change it records: no second collection, no outbox, no extra round
   * trip. Bounded, because the state machine compacts repeated retry events.
   */
  history: SagaEventRecord[];
  /** Which write put the document in its current state (see MongoSagaStore.update). */
  lastWrite: string;
}

interface DefinitionDocument extends Omit<SagaDefinition, "steps" | "labels"> {
  steps: (Omit<StepDefinition, "payload"> & { payload: Binary })[];
  labels: { key: string; value: string }[];
}

interface StateDocument extends Omit<SagaState, "steps"> {
  steps: (Omit<StepState, "output"> & { name: string; output: Binary | null })[];
}

const bin = (bytes: Uint8Array) => new Binary(bytes);
const bytes = (b: Binary | Uint8Array) =>
  b instanceof Binary ? new Uint8Array(b.buffer) : new Uint8Array(b);

export function labelPair(key: string, value: string): string {
  return `${key}=${value}`;
}

export function toDocument(r: SagaRecord, history: SagaEventRecord[], lastWrite: string): SagaDocument {
  return {
    _id: r.sagaId,
    partition: r.partition,
    sagaType: r.definition.sagaType,
    labelPairs: Object.entries(r.definition.labels).map(([k, v]) => labelPair(k, v)),
    definition: {
      ...r.definition,
      steps: r.definition.steps.map((s) => ({ ...s, payload: bin(s.payload) })),
      labels: Object.entries(r.definition.labels).map(([key, value]) => ({ key, value })),
    },
    definitionHash: r.definitionHash,
    createdAt: r.createdAt,
    ...toStateFields(r, lastWrite),
    history,
  };
}

/** The fields a transition changes; the definition is written once, at insert. */
export type StateFields = Pick<
  SagaDocument,
  "status" | "open" | "nextWakeAt" | "state" | "version" | "fence" | "updatedAt" | "eventSeq" | "lastWrite"
>;

export function toStateFields(r: SagaRecord, lastWrite: string): StateFields {
  return {
    status: r.state.status,
    open: !isTerminal(r.state.status),
    nextWakeAt: r.state.nextWakeAt,
    state: {
      ...r.state,
      steps: r.definition.steps.map((d) => {
        const s = r.state.steps[d.name] as StepState;
        return { ...s, name: d.name, output: s.output ? bin(s.output) : null };
      }),
    },
    version: r.version,
    fence: r.fence,
    updatedAt: r.updatedAt,
    eventSeq: r.eventSeq,
    lastWrite,
  };
}

/** Reads of a saga's state leave its history on the server. */
export const WITHOUT_HISTORY = { history: 0 } as const;

export function fromDocument(d: Omit<SagaDocument, "history">): SagaRecord {
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
