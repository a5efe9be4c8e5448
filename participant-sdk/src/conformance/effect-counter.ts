import { BusinessFailure } from "../participant/business-failure.js";
import { jsonBytes, parseJson } from "../participant/json-bytes.js";
import type { StepHandlers } from "../participant/step-handlers.js";
import type { EffectCounts, EffectsQuery } from "./effects-protocol.js";

/** A call's identity: which saga and step an effect belongs to. */
interface StepCall {
  sagaId: string;
  step: string;
}

/**
 * Counts applied effects per saga step and serves them as the reserved
 * `conformance.effects` step. Call `executed(ctx)` / `compensated(ctx)` where
 * your handlers apply their effect; register `counter.step()` under
 * CONFORMANCE_EFFECTS_STEP. In memory: counts reset when the process restarts.
 */
export class EffectCounter {
  private readonly counts = new Map<string, EffectCounts>();

  executed(call: StepCall): void {
    this.entry(call).executed++;
  }

  compensated(call: StepCall): void {
    this.entry(call).compensated++;
  }

  /** Counts for the step whose Execute key is "<saga_id>/<step>/execute" (zeros if never seen). */
  countsFor(executeKey: string): EffectCounts {
    if (!executeKey.endsWith("/execute")) {
      throw new BusinessFailure(`idempotency_key must be "<saga_id>/<step>/execute", got "${executeKey}"`);
    }
    const counts = this.counts.get(executeKey.slice(0, -"/execute".length));
    return { executed: counts?.executed ?? 0, compensated: counts?.compensated ?? 0 };
  }

  /** The handlers of the effect-count step (barrier off: each call reads fresh counts). */
  step(): StepHandlers {
    return {
      barrier: false,
      execute: async (ctx) => {
        const query = parseJson<Partial<EffectsQuery> | undefined>(ctx.payload);
        if (typeof query?.idempotency_key !== "string") {
          throw new BusinessFailure('payload must be JSON {"idempotency_key": "<saga_id>/<step>/execute"}');
        }
        return jsonBytes(this.countsFor(query.idempotency_key));
      },
      // Reading counts has no effect to undo.
      compensate: async () => {},
    };
  }

  private entry(call: StepCall): EffectCounts {
    const key = `${call.sagaId}/${call.step}`;
    let counts = this.counts.get(key);
    if (!counts) {
      counts = { executed: 0, compensated: 0 };
      this.counts.set(key, counts);
    }
    return counts;
  }
}
