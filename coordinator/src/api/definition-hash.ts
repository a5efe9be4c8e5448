import { createHash } from "node:crypto";
import type { SagaDefinition } from "../engine/saga-definition.js";

/**
 * A digest of the definition with defaults applied, so that StartSaga can tell
 * "the same saga again" (idempotent retry) from "a different saga under a used
 * id" (ALREADY_EXISTS). Label order does not matter.
 */
export function definitionHash(def: SagaDefinition): string {
  const canonical = {
    ...def,
    labels: Object.entries(def.labels).sort(([a], [b]) => (a < b ? -1 : 1)),
    steps: def.steps.map((s) => ({ ...s, payload: Buffer.from(s.payload).toString("base64") })),
  };
  return createHash("sha256").update(JSON.stringify(canonical)).digest("hex");
}
