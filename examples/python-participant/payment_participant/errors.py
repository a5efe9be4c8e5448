"""The errors a step handler raises, and how the participant answers them.

The coordinator reads the gRPC status by the outcome rules in
proto/saga/v1/participant.proto: FAILED_PRECONDITION and ABORTED on Execute are
a business "no" (not retried, not compensated); anything else is transient.
"""

from __future__ import annotations

import grpc


class BusinessFailure(Exception):
    """A business "no" (insufficient funds): FAILED_PRECONDITION. Raise it only
    when nothing took effect. The barrier records it, so repeats get the same answer."""


class TransientFailure(Exception):
    """A passing problem (a downstream service is down): UNAVAILABLE, retried."""


class CallCancelled(Exception):
    """The call's deadline passed, the caller cancelled, or the barrier's claim was
    taken over: the handler stopped before finishing. DEADLINE_EXCEEDED, retried."""


class CallRejection(Exception):
    """A call refused before any handler ran, with an explicit status."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
