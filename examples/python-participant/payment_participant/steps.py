"""What a step handler sees, and how a step is declared."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import CallCancelled


@dataclass
class _CallContext:
    saga_id: str
    saga_type: str
    step: str
    idempotency_key: str
    #: 1-based attempt number. Informational only: never key effects on it.
    attempt: int
    payload: bytes
    content_type: str
    logger: logging.LoggerAdapter[Any]
    #: True once the call's deadline passed, the caller cancelled, or the barrier's
    #: claim was taken over by another call: stop working.
    is_cancelled: Callable[[], bool] = field(default=lambda: False, repr=False)

    def cancelled(self) -> bool:
        return self.is_cancelled()

    def check_cancelled(self) -> None:
        """Raises CallCancelled (DEADLINE_EXCEEDED, retried) when the call should stop."""
        if self.is_cancelled():
            raise CallCancelled(f"{self.step} of saga {self.saga_id}: call ended before the handler finished")

    def sleep(self, seconds: float) -> None:
        """Sleeps (e.g. simulated downstream latency), stopping early when the call is cancelled."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.check_cancelled()
            time.sleep(min(left, 0.01))
        self.check_cancelled()


@dataclass
class ExecuteContext(_CallContext):
    #: Outputs of the step's direct dependencies, keyed by step name.
    dependency_outputs: dict[str, bytes] = field(default_factory=dict)


@dataclass
class CompensateContext(_CallContext):
    #: Execute's output as the barrier recorded it, else as the coordinator sent it.
    execute_output: bytes = b""
    #: "completed"; "interrupted" (the Execute's process died mid-handler: the effect
    #: may be partly applied); "unknown" when the step bypasses the barrier.
    execute_outcome: str = "completed"
    #: Why the saga is compensating, for logs.
    reason: str = ""


@dataclass
class StepHandlers:
    #: Applies the effect; returns the output bytes (None = empty). Raise BusinessFailure
    #: for a business "no" (only when nothing took effect), TransientFailure to be retried.
    execute: Callable[[ExecuteContext], bytes | None]
    #: Undoes the effect. Runs only if the step executed here, at most once.
    compensate: Callable[[CompensateContext], None]
    #: False: the step bypasses the barrier (read-only steps such as conformance.effects).
    barrier: bool = True
