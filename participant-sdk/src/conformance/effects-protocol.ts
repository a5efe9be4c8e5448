/**
 * The effect-count protocol a participant implements so the conformance kit
 * can see how often its effects were applied (documented in README.md,
 * "Effect-count step"). Execute of this reserved step, with JSON payload
 * `{"idempotency_key": "<saga_id>/<step>/execute"}`, answers JSON
 * `{"executed": n, "compensated": m}`: how many times that step's Execute
 * effect and Compensate effect were applied in that saga. It must not go
 * through the barrier: every call reads the current counts.
 */
export const CONFORMANCE_EFFECTS_STEP = "conformance.effects";

/** Payload of an Execute of the effect-count step. */
export interface EffectsQuery {
  idempotency_key: string;
}

/** Output of an Execute of the effect-count step. */
export interface EffectCounts {
  executed: number;
  compensated: number;
}
