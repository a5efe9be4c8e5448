import { type StepHandlers, startParticipant } from "@saga-coordinator/participant-sdk";
import { pino } from "pino";

/** What a recording participant saw, in order. */
export interface CallRecord {
  phase: "execute" | "compensate";
  sagaId: string;
  step: string;
  attempt: number;
  /** For compensate: the execute output the coordinator sent back. */
  executeOutput?: string;
  /** Position of the handler's start and end among all starts and ends this participant saw (1, 2, ...). */
  started: number;
  ended: number;
}

type Behaviour = {
  execute?: (ctx: Parameters<StepHandlers["execute"]>[0]) => Promise<Uint8Array | undefined>;
  compensate?: (ctx: Parameters<StepHandlers["compensate"]>[0]) => Promise<void>;
};

export interface RecordingParticipant {
  address: string;
  calls: CallRecord[];
  /** Handler runs per idempotency key: an effect applied twice shows up as 2. */
  effects: Map<string, number>;
  stop(): Promise<void>;
}

/**
 * A participant on the SDK (barrier on) that records every handler run and
 * counts effects per idempotency key. Default execute output: "out:<step>:<saga>".
 */
export async function startRecordingParticipant(
  steps: Record<string, Behaviour>,
  listen = "127.0.0.1:0",
): Promise<RecordingParticipant> {
  const calls: CallRecord[] = [];
  // Orders handler starts and ends without a clock: "a started before b ended" is a.started < b.ended.
  let tick = 0;
  const effects = new Map<string, number>();
  const count = (key: string) => effects.set(key, (effects.get(key) ?? 0) + 1);
  const handlers: Record<string, StepHandlers> = {};
  for (const [name, b] of Object.entries(steps)) {
    handlers[name] = {
      execute: async (ctx) => {
        const started = ++tick;
        const output = b.execute ? await b.execute(ctx) : undefined;
        count(ctx.idempotencyKey);
        calls.push({
          phase: "execute",
          sagaId: ctx.sagaId,
          step: ctx.step,
          attempt: ctx.attempt,
          started,
          ended: ++tick,
        });
        return output ?? Buffer.from(`out:${ctx.step}:${ctx.sagaId}`);
      },
      compensate: async (ctx) => {
        const started = ++tick;
        if (b.compensate) await b.compensate(ctx);
        count(ctx.idempotencyKey);
        calls.push({
          phase: "compensate",
          sagaId: ctx.sagaId,
          step: ctx.step,
          attempt: ctx.attempt,
          executeOutput: Buffer.from(ctx.executeOutput).toString(),
          started,
          ended: ++tick,
        });
      },
    };
  }
  const p = await startParticipant({ listen, steps: handlers, logger: pino({ level: "silent" }) });
  return { address: p.address, calls, effects, stop: () => p.shutdown() };
}
