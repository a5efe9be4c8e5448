/**
 * Thrown by a handler to say "try again later" (a dependency is down). The
 * participant answers UNAVAILABLE; the coordinator retries by the step's
 * policy. Other unexpected errors are answered INTERNAL, also retried.
 */
export class TransientFailure extends Error {
  override readonly name = "TransientFailure";
}
