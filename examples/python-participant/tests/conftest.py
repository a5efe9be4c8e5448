"""Shared fixtures: an in-process participant on a free port and gRPC clients for it."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402

from payment_participant._proto import participant_pb2, participant_pb2_grpc  # noqa: E402
from payment_participant.server import RunningParticipant, start_participant  # noqa: E402


def execute_request(saga_id: str, payload: object = None, *, step: str = "charge", attempt: int = 1, **kw):
    """An Execute as the coordinator sends it."""
    body = (
        payload if isinstance(payload, bytes) else json.dumps(payload if payload is not None else {}).encode()
    )
    return participant_pb2.ExecuteRequest(
        saga_id=saga_id,
        saga_type="checkout",
        step=step,
        idempotency_key=kw.pop("idempotency_key", f"{saga_id}/{step}/execute"),
        attempt=attempt,
        payload=body,
        content_type="application/json",
        **kw,
    )


def compensate_request(
    saga_id: str,
    payload: object = None,
    *,
    step: str = "charge",
    execute_output: bytes = b"",
    attempt: int = 1,
):
    body = (
        payload if isinstance(payload, bytes) else json.dumps(payload if payload is not None else {}).encode()
    )
    return participant_pb2.CompensateRequest(
        saga_id=saga_id,
        saga_type="checkout",
        step=step,
        idempotency_key=f"{saga_id}/{step}/compensate",
        attempt=attempt,
        payload=body,
        content_type="application/json",
        execute_output=execute_output,
        reason="step shipping failed: FAILED_PRECONDITION out of stock",
    )


def effects_of(stub, saga_id: str, step: str = "charge") -> dict[str, int]:
    """Asks the conformance.effects step, like the conformance kit does."""
    query_saga = f"conformance-query-{uuid.uuid4()}"
    res = stub.Execute(
        execute_request(
            query_saga, {"idempotency_key": f"{saga_id}/{step}/execute"}, step="conformance.effects"
        ),
        timeout=5,
    )
    return json.loads(res.output)


def new_saga_id() -> str:
    return f"saga-{uuid.uuid4()}"


def start(**options) -> RunningParticipant:
    options.setdefault("db_path", ":memory:")
    return start_participant("127.0.0.1:0", **options)


@pytest.fixture
def participant() -> Iterator[RunningParticipant]:
    running = start()
    yield running
    running.stop(1)


@pytest.fixture
def channel(participant: RunningParticipant) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(participant.address) as ch:
        yield ch


@pytest.fixture
def stub(channel: grpc.Channel):
    return participant_pb2_grpc.ParticipantServiceStub(channel)
