import type { SagaDefinition } from "./saga-definition.js";
import type { SagaState } from "./saga-state.js";

/**
 * The definition a saga runs with now: the one StartSaga gave, with the step
 * overrides operators gave on ResumeSaga (kept in the state, so the stored
 * definition stays what was started and the overrides show in GetSaga).
 */
export function effectiveDefinition(def: SagaDefinition, state: SagaState): SagaDefinition {
  if (!def.steps.some((d) => state.steps[d.name]?.override)) return def;
  return {
    ...def,
    steps: def.steps.map((d) => {
      const override = state.steps[d.name]?.override;
      return override ? { ...d, ...override } : d;
    }),
  };
}
