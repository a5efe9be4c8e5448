import { effectiveDefinition } from "../engine/effective-definition.js";
import { sagaGraph } from "../engine/saga-graph.js";
import type { SagaCommand, SagaInput } from "../engine/saga-input.js";
import type { SagaRecord } from "../store/saga-record.js";
import type { CallOutcome, CompensateCall, ExecuteCall } from "../transport/participant-transport.js";

// Pure halves of a dispatch: what to send for a command, and what the answer
// means to the state machine. The driver does the I/O in between.

export type PlannedCall =
  | { phase: "execute"; participant: string; timeoutMs: number; call: ExecuteCall }
  | { phase: "compensate"; participant: string; timeoutMs: number; call: CompensateCall };

/** The call a command asks for, or null when the step is not in the definition. */
export function planCall(record: SagaRecord, command: SagaCommand): PlannedCall | null {
  // With the operators' overrides (timeout, participant) from ResumeSaga.
  const def = effectiveDefinition(record.definition, record.state).steps.find((s) => s.name === command.step);
  if (!def) return null;
  const phase = command.type === "dispatchExecute" ? "execute" : "compensate";
  const base = {
    sagaId: record.sagaId,
    sagaType: record.definition.sagaType,
    step: def.name,
    // Stable across attempts and failover: the participant's barrier keys on it.
    idempotencyKey: `${record.sagaId}/${def.name}/${phase}`,
    attempt: command.attempt,
    payload: def.payload,
    contentType: def.contentType,
  };
  if (phase === "execute") {
    const dependencyOutputs: Record<string, Uint8Array> = {};
    for (const dep of sagaGraph(record.definition).dependencies.get(def.name) ?? []) {
      const output = record.state.steps[dep]?.output;
      if (output) dependencyOutputs[dep] = output;
    }
    return {
      phase,
      participant: def.participant,
      timeoutMs: def.timeoutMs,
      call: { ...base, dependencyOutputs },
    };
  }
  return {
    phase,
    participant: def.participant,
    timeoutMs: def.timeoutMs,
    call: {
      ...base,
      executeOutput: record.state.steps[def.name]?.output ?? new Uint8Array(),
      reason: record.state.reason,
    },
  };
}

/** The state machine's input for a participant's answer. */
export function answerInput(planned: PlannedCall, outcome: CallOutcome): SagaInput {
  const { step, attempt } = planned.call;
  if (planned.phase === "execute") {
    return outcome.ok
      ? { type: "executeSucceeded", step, attempt, output: outcome.output }
      : { type: "executeFailed", step, attempt, failure: outcome.failure, error: outcome.error };
  }
  return outcome.ok
    ? { type: "compensateSucceeded", step, attempt }
    : { type: "compensateFailed", step, attempt, error: outcome.error, failure: outcome.failure };
}

/** The outcome label of the participant-call histogram. */
export function outcomeLabel(outcome: CallOutcome): string {
  return outcome.ok ? "ok" : outcome.failure;
}
