/** Errors the driver raises for the API layer to map onto gRPC statuses. */

export class SagaNotFoundError extends Error {
  constructor(sagaId: string) {
    super(`no saga with id ${JSON.stringify(sagaId)}`);
  }
}

/** The machine refused the input (cancel after the pivot, resume of a saga that is not FAILED, ...). */
export class SagaRejectedError extends Error {}

/** This node does not (or no longer) own the saga's partition. */
export class NotOwnerError extends Error {}

/** The same saga id already exists with another definition. */
export class SagaConflictError extends Error {}
