import { type StartSagaRequest, type StepDefinition, StepKind } from "@saga-coordinator/proto";
import type { ParticipantName } from "./fault-schedule.js";
import type { Prng } from "./prng.js";

// The sagas a chaos run starts: 3-5 steps across the TypeScript and the Go
// participant, some that complete, some that fail at a later step and are
// compensated, some with a pivot followed by a retriable step. Pure: the same
// seed gives the same sagas.

/** What the TypeScript chaos participant does with a step's payload. */
export interface TsStepPayload {
  /** Refuse with a business failure (nothing applied). */
  fail?: boolean;
  /** Answer UNAVAILABLE to the first n attempts (nothing applied). */
  transientFailures?: number;
  /** Simulated work before the effect is applied. */
  workMs?: number;
}

export type SagaShape =
  | "complete" // every step succeeds
  | "fail-late" // the last step refuses: everything before it is compensated
  | "pivot-retriable" // ... pivot (Go), then a retriable step that fails transiently first
  | "go-refuses" // the Go step refuses (no address): the steps before it are compensated
  | "pivot-refuses"; // the pivot (Go) refuses: the compensatable steps before it are compensated

export type ExpectedOutcome = "COMPLETED" | "COMPENSATED";

export interface PlannedStep {
  name: string;
  participant: ParticipantName;
  kind: "compensatable" | "pivot" | "retriable";
  /** This step refuses with a business failure. */
  refuses: boolean;
}

export interface PlannedSaga {
  sagaId: string;
  shape: SagaShape;
  expected: ExpectedOutcome;
  steps: PlannedStep[];
}

export const SHAPES: Record<SagaShape, number> = {
  complete: 3,
  "fail-late": 2,
  "pivot-retriable": 2,
  "go-refuses": 1.5,
  "pivot-refuses": 1.5,
};

/** Step names the TypeScript participant serves; the Go participant serves "ship". */
export const TS_STEPS = ["reserve", "hold", "charge", "notify", "confirm", "probe"] as const;

function ts(name: string, kind: PlannedStep["kind"] = "compensatable", refuses = false): PlannedStep {
  return { name, participant: "ts", kind, refuses };
}
function ship(kind: PlannedStep["kind"] = "compensatable", refuses = false): PlannedStep {
  return { name: "ship", participant: "go", kind, refuses };
}

export function planSagas(rng: Prng, count: number, runId: string): PlannedSaga[] {
  const designs: Record<SagaShape, () => Pick<PlannedSaga, "expected" | "steps">> = {
    complete: () => ({
      expected: "COMPLETED",
      steps:
        rng.next() < 0.5
          ? [ts("reserve"), ship(), ts("charge"), ts("notify")]
          : [ts("reserve"), ship(), ts("charge")],
    }),
    "fail-late": () => ({
      expected: "COMPENSATED",
      steps: [ts("reserve"), ts("hold"), ship(), ts("charge"), ts("notify", "compensatable", true)],
    }),
    "pivot-retriable": () => ({
      expected: "COMPLETED",
      steps: [ts("reserve"), ts("charge"), ship("pivot"), ts("confirm", "retriable")],
    }),
    "go-refuses": () => ({
      expected: "COMPENSATED",
      steps: [ts("reserve"), ts("charge"), ship("compensatable", true)],
    }),
    "pivot-refuses": () => ({
      expected: "COMPENSATED",
      steps: [ts("reserve"), ts("hold"), ship("pivot", true), ts("confirm", "retriable")],
    }),
  };
  return Array.from({ length: count }, (_, i) => {
    const shape = rng.weighted(SHAPES);
    return { sagaId: `chaos-${runId}-${String(i).padStart(5, "0")}`, shape, ...designs[shape]() };
  });
}

export interface Addresses {
  ts: string;
  go: string;
}

const ms = (n: number) => ({ seconds: Math.floor(n / 1000), nanos: (n % 1000) * 1_000_000 });

/** Generous retries: a participant may be down or slow for several seconds; the designed outcome must still be reached. */
const EXECUTE_RETRY = {
  maxAttempts: 60,
  initialBackoff: ms(100),
  maxBackoff: ms(2_000),
  multiplier: 2,
  jitter: 0.2,
};
const COMPENSATE_RETRY = { ...EXECUTE_RETRY, maxAttempts: 200 };

/** The StartSaga request of a planned saga. `rng` decides per-step transient failures and work time. */
export function startRequest(saga: PlannedSaga, addresses: Addresses, rng: Prng): StartSagaRequest {
  const steps: StepDefinition[] = saga.steps.map((s) => {
    let payload: unknown;
    if (s.participant === "go") {
      payload = { address: s.refuses ? "" : `${rng.int(1, 999)} Chaos Street` };
    } else {
      const p: TsStepPayload = { workMs: rng.int(5, 120) };
      if (s.refuses) p.fail = true;
      if (s.kind === "retriable") p.transientFailures = rng.int(1, 3);
      else if (rng.next() < 0.15) p.transientFailures = 1;
      payload = p;
    }
    return {
      name: s.name,
      participant: addresses[s.participant],
      payload: Buffer.from(JSON.stringify(payload)),
      contentType: "application/json",
      dependsOn: [],
      kind:
        s.kind === "pivot"
          ? StepKind.STEP_KIND_PIVOT
          : s.kind === "retriable"
            ? StepKind.STEP_KIND_RETRIABLE
            : StepKind.STEP_KIND_COMPENSATABLE,
      retry: EXECUTE_RETRY,
      timeout: ms(4_000),
      compensateRetry: COMPENSATE_RETRY,
    };
  });
  return { sagaId: saga.sagaId, sagaType: `chaos-${saga.shape}`, steps, labels: { chaos: "1" } };
}
