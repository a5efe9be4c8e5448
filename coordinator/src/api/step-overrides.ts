import { status } from "@grpc/grpc-js";
import type { StepOverride as ProtoStepOverride } from "@saga-coordinator/proto";
import type { ParticipantRegistry } from "../config/participant-registry.js";
import { DEFAULT_COMPENSATE_RETRY, DEFAULT_EXECUTE_RETRY } from "../engine/saga-definition.js";
import type { StepOverride } from "../engine/saga-state.js";
import { checkRetry, checkTimeout } from "../engine/validate-definition.js";
import { durationMs, retryPolicy } from "./definition-from-request.js";
import { invalidArgument, StatusError } from "./grpc-errors.js";
import { participantProblem } from "./request-validation.js";

/** What ResumeSaga's overrides are checked against: the same rules as StartSaga's steps. */
export interface OverrideRules {
  minBackoffMs: number;
  participants: ParticipantRegistry;
  allowDirectParticipants: boolean;
}

/**
 * ResumeSaga's step overrides, checked like the same fields of StartSaga
 * (INVALID_ARGUMENT naming the field; PERMISSION_DENIED for a participant that
 * does not serve the saga's namespace), keyed by step name.
 */
export function stepOverridesFromRequest(
  overrides: ProtoStepOverride[],
  namespace: string,
  rules: OverrideRules,
): Record<string, StepOverride> {
  const byStep: Record<string, StepOverride> = {};
  for (const [i, o] of overrides.entries()) {
    const at = `overrides[${i}]`;
    if (!o.step) throw invalidArgument(`${at}.step: is required`);
    if (byStep[o.step])
      throw invalidArgument(`${at}.step: step ${JSON.stringify(o.step)} is overridden twice`);
    const override: StepOverride = {};
    if (o.timeout) {
      const timeoutMs = durationMs(o.timeout, `${at}.timeout`);
      const problem = checkTimeout(`${at}.timeout`, timeoutMs);
      if (problem) throw invalidArgument(problem);
      override.timeoutMs = timeoutMs;
    }
    if (o.retry) override.retry = retryPolicy(o.retry, DEFAULT_EXECUTE_RETRY, `${at}.retry`);
    if (o.compensateRetry) {
      override.compensateRetry = retryPolicy(
        o.compensateRetry,
        DEFAULT_COMPENSATE_RETRY,
        `${at}.compensate_retry`,
      );
    }
    for (const [field, policy] of [
      ["retry", override.retry],
      ["compensate_retry", override.compensateRetry],
    ] as const) {
      const problem = policy && checkRetry(`${at}.${field}`, policy, rules.minBackoffMs);
      if (problem) throw invalidArgument(problem);
    }
    if (o.participant !== undefined) {
      if (o.participant === "")
        throw invalidArgument(`${at}.participant: is empty; name a participant or leave it unset`);
      const problem = participantProblem(
        o.participant,
        rules.participants.nameSet,
        rules.allowDirectParticipants,
      );
      if (problem) throw invalidArgument(`${at}.participant: ${problem}`);
      if (!rules.participants.allows(o.participant, namespace)) {
        throw new StatusError(
          status.PERMISSION_DENIED,
          `${at}.participant: "${o.participant}" does not serve namespace "${namespace}"`,
        );
      }
      override.participant = o.participant;
    }
    if (Object.keys(override).length === 0) {
      throw invalidArgument(`${at}: changes nothing; give timeout, retry, compensate_retry or participant`);
    }
    byStep[o.step] = override;
  }
  return byStep;
}
