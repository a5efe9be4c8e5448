import { status } from "@grpc/grpc-js";
import type {
  CompensateRequest,
  CompensateResponse,
  ExecuteRequest,
  ExecuteResponse,
} from "@saga-coordinator/proto";
import type { Logger } from "pino";
import type { Barrier } from "../barrier/barrier.js";
import { CallRejection } from "./call-rejection.js";
import type { StepHandlers, StepOutput } from "./step-handlers.js";

/** Limits of one incoming call. */
export interface CallScope {
  /** Aborted on deadline or cancellation. */
  signal: AbortSignal;
  /** Epoch ms, or undefined when the caller set no deadline. */
  deadline: number | undefined;
}

/**
 * Routes Execute/Compensate to the step's handlers through the barrier.
 * Transport-free: it throws typed errors that participant-service maps to
 * gRPC statuses.
 */
export class StepDispatcher {
  constructor(
    private readonly steps: Record<string, StepHandlers>,
    private readonly barrier: Barrier | null,
    private readonly logger: Logger,
  ) {}

  async execute(req: ExecuteRequest, scope: CallScope): Promise<ExecuteResponse> {
    const { handlers, key, logger, common } = this.prepare(req, "execute");
    const base = { ...common, dependencyOutputs: req.dependencyOutputs };
    if (!this.barrier || handlers.barrier === false) {
      const output = await handlers.execute({ ...base, signal: scope.signal, commit: async () => {} });
      return { output: toBuffer(output) };
    }
    let ran = false;
    const output = await this.barrier.execute(
      key,
      async (claim) => {
        ran = true;
        const result = await handlers.execute({
          ...base,
          signal: AbortSignal.any([scope.signal, claim.signal]),
          commit: claim.commit,
        });
        return toBuffer(result);
      },
      scope,
    );
    logger.debug({ replayed: !ran }, ran ? "executed" : "execute replayed from the barrier");
    return { output: toBuffer(output) };
  }

  async compensate(req: CompensateRequest, scope: CallScope): Promise<CompensateResponse> {
    const { handlers, key, logger, common } = this.prepare(req, "compensate");
    const base = { ...common, reason: req.reason };
    if (!this.barrier || handlers.barrier === false) {
      await handlers.compensate({
        ...base,
        executeOutput: req.executeOutput,
        executeOutcome: "unknown",
        signal: scope.signal,
        commit: async () => {},
      });
      return {};
    }
    const result = await this.barrier.compensate(
      key,
      (claim) =>
        handlers.compensate({
          ...base,
          // The barrier's copy is authoritative; the coordinator's is empty when it never saw the output.
          executeOutput: claim.executeOutput.length > 0 ? toBuffer(claim.executeOutput) : req.executeOutput,
          executeOutcome: claim.executeOutcome,
          signal: AbortSignal.any([scope.signal, claim.signal]),
          commit: claim.commit,
        }),
      scope,
    );
    logger.debug(
      { result },
      result === "null-compensation" ? "null compensation: tombstone recorded" : result,
    );
    return {};
  }

  /** What both phases need: the handlers, the barrier key, a logger bound to the call, the common context. */
  private prepare(req: ExecuteRequest | CompensateRequest, phase: "execute" | "compensate") {
    const handlers = this.handlersFor(req.step);
    const key = barrierKey(req, phase);
    const logger = this.logger.child({ sagaId: req.sagaId, step: req.step, attempt: req.attempt, phase });
    const common = {
      sagaId: req.sagaId,
      sagaType: req.sagaType,
      step: req.step,
      idempotencyKey: req.idempotencyKey,
      attempt: req.attempt,
      payload: req.payload,
      contentType: req.contentType,
      logger,
    };
    return { handlers, key, logger, common };
  }

  private handlersFor(step: string): StepHandlers {
    const handlers = Object.hasOwn(this.steps, step) ? this.steps[step] : undefined;
    if (handlers) return handlers;
    // FAILED_PRECONDITION, not NOT_FOUND/UNIMPLEMENTED: the coordinator retries every code other than
    // FAILED_PRECONDITION/ABORTED, and a step this participant does not know will never succeed. On
    // Execute it is a definite "did not take effect"; on Compensate the coordinator still retries it and
    // finally parks the saga in FAILED for an operator, which is right for a misrouted compensation.
    const known = Object.keys(this.steps).sort().join(", ");
    throw new CallRejection(
      status.FAILED_PRECONDITION,
      `unknown step "${step}": this participant implements ${known || "no steps"}`,
    );
  }
}

/**
 * The barrier record of a call: "<saga_id>/<step>", shared by Execute and
 * Compensate. The request's key must be exactly the protocol's
 * "<saga_id>/<step>/<phase>", so a confused caller cannot alias two steps.
 */
function barrierKey(req: { sagaId: string; step: string; idempotencyKey: string }, phase: string): string {
  const expected = `${req.sagaId}/${req.step}/${phase}`;
  if (req.sagaId === "" || req.idempotencyKey !== expected) {
    throw new CallRejection(
      status.INVALID_ARGUMENT,
      `idempotency_key must be "<saga_id>/<step>/${phase}" (here "${expected}"), got "${req.idempotencyKey}"` +
        (req.sagaId === "" ? " and saga_id is empty" : ""),
    );
  }
  return `${req.sagaId}/${req.step}`;
}

function toBuffer(bytes: StepOutput): Buffer {
  if (!bytes) return Buffer.alloc(0);
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
