import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { BusinessFailure } from "../participant/business-failure.js";
import { jsonBytes, parseJson } from "../participant/json-bytes.js";
import type { ExecuteContext } from "../participant/step-handlers.js";
import { EffectCounter } from "./effect-counter.js";

function query(payload: Buffer): ExecuteContext {
  return {
    sagaId: "q",
    sagaType: "conformance",
    step: "conformance.effects",
    idempotencyKey: "q/conformance.effects/execute",
    attempt: 1,
    payload,
    contentType: "application/json",
    dependencyOutputs: {},
    signal: new AbortController().signal,
    logger: pino({ level: "silent" }),
    commit: async () => {},
  };
}

describe("EffectCounter", () => {
  it("counts effects per saga step and serves them as the effect-count step", async () => {
    const counter = new EffectCounter();
    counter.executed({ sagaId: "s1", step: "debit" });
    counter.executed({ sagaId: "s1", step: "debit" });
    counter.compensated({ sagaId: "s1", step: "debit" });
    counter.executed({ sagaId: "s2", step: "debit" });
    const step = counter.step();
    expect(step.barrier).toBe(false);
    const out = await step.execute(query(jsonBytes({ idempotency_key: "s1/debit/execute" })));
    expect(parseJson(out as Buffer)).toEqual({ executed: 2, compensated: 1 });
    expect(counter.countsFor("s3/debit/execute")).toEqual({ executed: 0, compensated: 0 });
  });

  it("answers a malformed query with a business failure", async () => {
    const step = new EffectCounter().step();
    await expect(step.execute(query(jsonBytes({ key: "x" })))).rejects.toThrow(BusinessFailure);
    await expect(step.execute(query(jsonBytes({ idempotency_key: "s1/debit/compensate" })))).rejects.toThrow(
      /must be "<saga_id>\/<step>\/execute"/,
    );
  });
});
