/**
 * Thrown by a handler to say a business "no" (insufficient funds, out of
 * stock). The participant answers FAILED_PRECONDITION with the message: the
 * coordinator does not retry it and compensates the steps before this one.
 * The barrier records it, so a repeated Execute gets the same answer.
 *
 * Throw it only when the step took NO effect. Any other error is transient:
 * the coordinator retries the step with the same idempotency key.
 */
export class BusinessFailure extends Error {
  override readonly name = "BusinessFailure";
}
