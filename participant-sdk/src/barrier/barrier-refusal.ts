/** Why the barrier answered a call without running its handler (and without a stored result). */
export type BarrierRefusalReason =
  /** Another call for the same step holds the record and has not finished: retry shortly. */
  | "in-progress"
  /** Execute after a null compensation's tombstone (a delayed packet): refuse, do nothing. */
  | "hanging"
  /** Execute after the step was compensated: its effect is undone, refuse. */
  | "compensated"
  /** This call's lease was taken over (it ran longer than the lease without renewing): its result is not recorded. */
  | "lease-lost";

export class BarrierRefusal extends Error {
  override readonly name = "BarrierRefusal";

  constructor(
    readonly reason: BarrierRefusalReason,
    message: string,
  ) {
    super(message);
  }
}
