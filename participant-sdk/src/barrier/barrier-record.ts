/**
 * The lifecycle of one step's barrier record. Execute and Compensate of the
 * same step share the record (keyed "<saga_id>/<step>") so that one conditional
 * write decides every race between them.
 *
 *   (none) --Execute claims--> executing --handler returns--> executed --Compensate claims--> compensating --> compensated
 *                                  |  \--BusinessFailure--> failed
 *                                  \--handler throws: record deleted (a retry runs the handler again)
 *   (none) --Compensate first--> tombstone   (null compensation; a later Execute is ABORTED)
 */
export type BarrierState = "executing" | "executed" | "failed" | "compensating" | "compensated" | "tombstone";

/** What the barrier knows about the Execute when a Compensate handler runs. */
export type ExecuteOutcome =
  /** Execute's handler returned: its effect is in place. */
  | "completed"
  /** Execute's handler started but its process died (lease expired): the effect may be partly applied. */
  | "interrupted"
  /** No barrier: nothing is known. */
  | "unknown";

/** One atomic record per step. Every write increments `version`. */
export interface BarrierRecord {
  /** "<saga_id>/<step>". */
  key: string;
  state: BarrierState;
  /** 1 on insert, +1 on every update: the guard of compare-and-set writes. */
  version: number;
  /** While executing/compensating: the token of the call that holds the lease. */
  owner?: string;
  /** While executing/compensating: epoch ms after which another call may take the record over. */
  leaseUntil?: number;
  /** executed/compensating/compensated: Execute's output. */
  output?: Uint8Array;
  /** failed: the BusinessFailure message, replayed to repeated Executes. */
  failure?: string;
  /** compensating/compensated: how the Execute had ended. */
  executeOutcome?: ExecuteOutcome;
  /** Epoch ms of the last write, for operators. */
  updatedAt: number;
}

/** A record's content as written by an update: everything but its key and version. */
export type BarrierContent = Omit<BarrierRecord, "key" | "version">;

/** The condition of a conditional write. Every given field must equal the stored one. */
export interface BarrierMatch {
  state: BarrierState;
  version?: number;
  owner?: string;
}

export function matches(record: BarrierRecord, match: BarrierMatch): boolean {
  return (
    record.state === match.state &&
    (match.version === undefined || record.version === match.version) &&
    (match.owner === undefined || record.owner === match.owner)
  );
}
