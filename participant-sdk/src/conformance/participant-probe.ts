import { randomUUID } from "node:crypto";
import { connectivityState, credentials, status } from "@grpc/grpc-js";
import { ParticipantServiceClient } from "@saga-coordinator/proto";
import { isServiceError, unaryCall } from "../grpc/unary-call.js";
import { CONFORMANCE_EFFECTS_STEP, type EffectCounts } from "./effects-protocol.js";

/** What a participant answered: OK with bytes, or a gRPC status. */
export type ProbeAnswer = { ok: true; output: Buffer } | { ok: false; code: status; details: string };

/** How a probed step is called. */
export interface ProbeStep {
  step: string;
  payload: Buffer;
  contentType: string;
}

const SAGA_TYPE = "conformance";

/** Sends protocol-correct Execute/Compensate calls to one participant, as a coordinator would. */
export class ParticipantProbe {
  private client: ParticipantServiceClient;

  constructor(
    readonly target: string,
    private readonly timeoutMs: number,
  ) {
    this.client = new ParticipantServiceClient(target, credentials.createInsecure());
  }

  /** A new channel: after the participant restarted, the old one may be backing off its reconnects. */
  reconnect(): void {
    this.client.close();
    this.client = new ParticipantServiceClient(this.target, credentials.createInsecure());
  }

  /**
   * Resolves once the target accepts a connection; rejects within `timeoutMs`
   * with the reason it could not be reached.
   */
  reachable(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) =>
      this.client.waitForReady(Date.now() + timeoutMs, (err) => {
        if (!err) return resolve();
        const state = this.client.getChannel().getConnectivityState(false);
        reject(
          new ParticipantUnreachableError(
            `cannot reach a participant at ${this.target} within ${timeoutMs} ms (channel ${connectivityName(state)}); is it running, and is --target its host:port?`,
          ),
        );
      }),
    );
  }

  /** A saga id nobody has used: every rule starts from a clean barrier. */
  static freshSagaId(): string {
    return `conformance-${randomUUID()}`;
  }

  execute(sagaId: string, call: ProbeStep, attempt = 1): Promise<ProbeAnswer> {
    return this.answer(async () => {
      const res = await unaryCall(
        this.client,
        this.client.execute,
        {
          sagaId,
          sagaType: SAGA_TYPE,
          step: call.step,
          idempotencyKey: `${sagaId}/${call.step}/execute`,
          attempt,
          payload: call.payload,
          contentType: call.contentType,
          dependencyOutputs: {},
        },
        this.timeoutMs,
      );
      return res.output;
    });
  }

  compensate(sagaId: string, call: ProbeStep, executeOutput: Buffer, attempt = 1): Promise<ProbeAnswer> {
    return this.answer(async () => {
      await unaryCall(
        this.client,
        this.client.compensate,
        {
          sagaId,
          sagaType: SAGA_TYPE,
          step: call.step,
          idempotencyKey: `${sagaId}/${call.step}/compensate`,
          attempt,
          payload: call.payload,
          contentType: call.contentType,
          executeOutput,
          reason: "saga-conformance check",
        },
        this.timeoutMs,
      );
      return Buffer.alloc(0);
    });
  }

  /** Repeats an Execute while it answers UNAVAILABLE ("in progress, retry"), like the coordinator. */
  async executeUntilDecided(sagaId: string, call: ProbeStep, attempt = 1): Promise<ProbeAnswer> {
    for (let retry = 0; ; retry++) {
      const answer = await this.execute(sagaId, call, attempt + retry);
      if (answer.ok || answer.code !== status.UNAVAILABLE || retry >= 50) return answer;
      await new Promise((resolve) => setTimeout(resolve, Math.min(200, 10 * 2 ** retry)));
    }
  }

  /** The participant's effect counts for a step of a saga, through the effect-count step. */
  async effects(sagaId: string, step: string): Promise<EffectCounts> {
    const query = { idempotency_key: `${sagaId}/${step}/execute` };
    // Each query under its own fresh saga id, so no barrier can replay an old answer.
    const answer = await this.execute(`conformance-query-${randomUUID()}`, {
      step: CONFORMANCE_EFFECTS_STEP,
      payload: Buffer.from(JSON.stringify(query)),
      contentType: "application/json",
    });
    if (!answer.ok) {
      throw new Error(`effect-count step answered ${describeAnswer(answer)}`);
    }
    let counts: Partial<EffectCounts>;
    try {
      counts = JSON.parse(answer.output.toString("utf8"));
    } catch {
      throw new Error(
        `effect-count step returned non-JSON output ${JSON.stringify(answer.output.toString("utf8"))}`,
      );
    }
    if (!Number.isInteger(counts.executed) || !Number.isInteger(counts.compensated)) {
      throw new Error(
        `effect-count step returned ${answer.output.toString("utf8")}, want {"executed": n, "compensated": m}`,
      );
    }
    return { executed: counts.executed as number, compensated: counts.compensated as number };
  }

  close(): void {
    this.client.close();
  }

  private async answer(call: () => Promise<Buffer>): Promise<ProbeAnswer> {
    try {
      return { ok: true, output: await call() };
    } catch (err) {
      if (isServiceError(err)) return { ok: false, code: err.code, details: err.details };
      throw err;
    }
  }
}

/** "OK" or "CODE: details", for reports. */
export function describeAnswer(answer: ProbeAnswer): string {
  // grpc-js appends "Resolution note: " even when it has nothing to say.
  const details = answer.ok ? "" : answer.details.replace(/\s*Resolution note:\s*$/, "");
  return answer.ok ? "OK" : `${status[answer.code] ?? answer.code}: ${details}`;
}

/** The target never accepted a connection: no rule can say anything, so the run stops. */
export class ParticipantUnreachableError extends Error {}

function connectivityName(state: connectivityState): string {
  return connectivityState[state] ?? String(state);
}
