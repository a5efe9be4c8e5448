import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import {
  BusinessFailure,
  jsonBytes,
  parseJson,
  type StepHandlers,
  startParticipant,
  TransientFailure,
} from "@saga-coordinator/participant-sdk";
import { TS_STEPS, type TsStepPayload } from "../saga-mix.js";
import { type EffectWriteOptions, JournalBarrierStore, type LedgerEntry } from "./journal-barrier-store.js";

// The chaos suite's TypeScript participant: every step of the saga mix that is
// not Go's "ship". Each Execute applies one effect (a ledger "apply" entry),
// each Compensate of an applied step undoes it (an "undo" entry); both commit
// in one journal write with the barrier record, so a SIGKILL at any point
// leaves either both or neither.
//
//   node chaos-participant.js --listen HOST:PORT --journal PATH

const { values } = parseArgs({
  options: {
    listen: { type: "string", default: "127.0.0.1:0" },
    journal: { type: "string" },
    "lease-ms": { type: "string", default: "4000" },
  },
});
if (!values.journal) {
  console.error("--journal PATH is required: the durable barrier and effect ledger of this participant");
  process.exit(2);
}

const store = new JournalBarrierStore(values.journal);
const entry = (op: LedgerEntry["op"], key: string, effectId: string): EffectWriteOptions => ({
  effect: { op, key, effectId, at: Date.now(), pid: process.pid },
});

const handlers: StepHandlers = {
  execute: async (ctx) => {
    const p = parseJson<TsStepPayload>(ctx.payload);
    if ((p.workMs ?? 0) > 0) await sleep(p.workMs, undefined, { signal: ctx.signal });
    if (p.fail) throw new BusinessFailure(`${ctx.step} refuses (the saga was designed to fail here)`);
    if (ctx.attempt <= (p.transientFailures ?? 0)) {
      throw new TransientFailure(`${ctx.step} is not ready yet (attempt ${ctx.attempt})`);
    }
    ctx.signal.throwIfAborted(); // the coordinator gave up on this attempt: apply nothing
    const effectId = randomUUID();
    const output = jsonBytes({ effectId, step: ctx.step });
    await ctx.commit(output, entry("apply", `${ctx.sagaId}/${ctx.step}`, effectId));
    return output;
  },
  compensate: async (ctx) => {
    // An interrupted Execute committed nothing (effect and record commit together): nothing to undo.
    if (ctx.executeOutcome !== "completed") return ctx.commit();
    const { effectId } = parseJson<{ effectId: string }>(ctx.executeOutput);
    await ctx.commit(entry("undo", `${ctx.sagaId}/${ctx.step}`, effectId));
  },
};

const participant = await startParticipant({
  listen: values.listen,
  steps: Object.fromEntries(TS_STEPS.map((name) => [name, handlers])),
  barrier: store,
  barrierOptions: { leaseMs: Number(values["lease-ms"]), inProgressWaitMs: 2_000 },
  handleSignals: true,
  shutdownTimeoutMs: 5_000,
});
await participant.closed;
store.close();
process.exit(0);
