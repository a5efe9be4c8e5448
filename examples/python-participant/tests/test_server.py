"""The participant over gRPC: started in-process on a free port, called with a grpc client."""

from __future__ import annotations

import json
import threading
import time

import grpc
import pytest
from conftest import compensate_request, effects_of, execute_request, new_saga_id, start
from grpc_health.v1 import health_pb2, health_pb2_grpc

from payment_participant._proto import participant_pb2_grpc
from payment_participant.payments import charge_id_for


def rpc_error(call, *args, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(*args, timeout=5, **kwargs)
    return info.value


def test_health_is_serving(participant, channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "saga.v1.ParticipantService"):
        res = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert res.status == health_pb2.HealthCheckResponse.SERVING


def test_charge_returns_a_charge_id_and_a_duplicate_returns_the_same_output(participant, stub) -> None:
    saga = new_saga_id()
    first = stub.Execute(execute_request(saga, {"amount": 42}), timeout=5)
    body = json.loads(first.output)
    assert body == {"charge_id": charge_id_for(saga, "charge"), "amount": 42}
    again = stub.Execute(execute_request(saga, {"amount": 42}, attempt=2), timeout=5)
    assert again.output == first.output
    assert effects_of(stub, saga) == {"executed": 1, "compensated": 0}
    assert participant.ledger.get(body["charge_id"])["status"] == "charged"


@pytest.mark.parametrize("payload", [{"amount": 1001}, {"amount": 5, "fail": True}])
def test_insufficient_funds_is_a_business_failure(participant, stub, payload) -> None:
    saga = new_saga_id()
    for attempt in (1, 2):
        err = rpc_error(stub.Execute, execute_request(saga, payload, attempt=attempt))
        assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert err.details() == "insufficient funds"
    assert effects_of(stub, saga) == {"executed": 0, "compensated": 0}
    # Nothing took effect, so a compensation has nothing to undo.
    stub.Compensate(compensate_request(saga, payload), timeout=5)
    assert effects_of(stub, saga) == {"executed": 0, "compensated": 0}


def test_the_limit_itself_is_accepted(stub) -> None:
    stub.Execute(execute_request(new_saga_id(), {"amount": 1000}), timeout=5)


@pytest.mark.parametrize("payload", [b"not json", b"[1]", b'{"amount":"ten"}', b'{"amount":-1}', b"{}"])
def test_a_malformed_payload_is_a_business_failure(stub, payload) -> None:
    err = rpc_error(stub.Execute, execute_request(new_saga_id(), payload))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_compensate_refunds_the_charge_from_execute_output_once(participant, stub) -> None:
    saga = new_saga_id()
    output = stub.Execute(execute_request(saga, {"amount": 10}), timeout=5).output
    charge_id = json.loads(output)["charge_id"]
    for attempt in (1, 2, 3):
        stub.Compensate(
            compensate_request(saga, {"amount": 10}, execute_output=output, attempt=attempt), timeout=5
        )
    assert participant.ledger.get(charge_id)["status"] == "refunded"
    assert effects_of(stub, saga) == {"executed": 1, "compensated": 1}


def test_compensate_uses_the_barriers_output_when_the_coordinator_has_none(participant, stub) -> None:
    # The coordinator's Execute timed out after the participant charged: it compensates
    # with an empty execute_output; the barrier knows the charge.
    saga = new_saga_id()
    output = stub.Execute(execute_request(saga, {"amount": 10}), timeout=5).output
    stub.Compensate(compensate_request(saga, {"amount": 10}, execute_output=b""), timeout=5)
    assert participant.ledger.get(json.loads(output)["charge_id"])["status"] == "refunded"
    assert effects_of(stub, saga) == {"executed": 1, "compensated": 1}


def test_null_compensation_then_a_late_execute_is_aborted(stub) -> None:
    saga = new_saga_id()
    stub.Compensate(compensate_request(saga, {"amount": 10}), timeout=5)
    stub.Compensate(compensate_request(saga, {"amount": 10}, attempt=2), timeout=5)
    err = rpc_error(stub.Execute, execute_request(saga, {"amount": 10}))
    assert err.code() == grpc.StatusCode.ABORTED
    assert "compensated before it executed" in err.details()
    assert effects_of(stub, saga) == {"executed": 0, "compensated": 0}


def test_execute_after_compensation_is_aborted(stub) -> None:
    saga = new_saga_id()
    output = stub.Execute(execute_request(saga, {"amount": 10}), timeout=5).output
    stub.Compensate(compensate_request(saga, {"amount": 10}, execute_output=output), timeout=5)
    err = rpc_error(stub.Execute, execute_request(saga, {"amount": 10}, attempt=2))
    assert err.code() == grpc.StatusCode.ABORTED


def test_unknown_step_lists_the_known_steps(stub) -> None:
    saga = new_saga_id()
    for call, request in (
        (stub.Execute, execute_request(saga, {"amount": 1}, step="ship")),
        (stub.Compensate, compensate_request(saga, {"amount": 1}, step="ship")),
    ):
        err = rpc_error(call, request)
        assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert err.details() == 'unknown step "ship": this participant implements charge, conformance.effects'


def test_an_idempotency_key_that_does_not_match_the_protocol_is_rejected(stub) -> None:
    saga = new_saga_id()
    err = rpc_error(stub.Execute, execute_request(saga, {"amount": 1}, idempotency_key=f"{saga}/charge/1"))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f'"{saga}/charge/execute"' in err.details()


def test_effects_step_rejects_a_malformed_query(stub) -> None:
    for payload in (b"nope", b'{"key":"x"}', b'{"idempotency_key":"s/charge/compensate"}'):
        err = rpc_error(stub.Execute, execute_request(new_saga_id(), payload, step="conformance.effects"))
        assert err.code() == grpc.StatusCode.FAILED_PRECONDITION


def _concurrent_executes(address: str, saga: str, n: int) -> list[object]:
    """n identical Executes at once, each on its own channel; returns outputs or status codes."""
    go = threading.Barrier(n)
    results: list[object] = [None] * n

    def call(i: int) -> None:
        with grpc.insecure_channel(address) as ch:
            stub = participant_pb2_grpc.ParticipantServiceStub(ch)
            grpc.channel_ready_future(ch).result(timeout=5)
            go.wait()
            try:
                results[i] = stub.Execute(
                    execute_request(saga, {"amount": 7}, attempt=i + 1), timeout=5
                ).output
            except grpc.RpcError as err:
                results[i] = err.code()

    threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    return results


def test_concurrent_duplicates_get_unavailable_while_the_first_is_in_progress() -> None:
    participant = start(latency_seconds=0.5, in_progress_wait_seconds=0)
    try:
        saga = new_saga_id()
        results = _concurrent_executes(participant.address, saga, 10)
        outputs = [r for r in results if isinstance(r, bytes)]
        assert len(outputs) == 1, results
        assert (
            sorted(str(r) for r in results if not isinstance(r, bytes))
            == [str(grpc.StatusCode.UNAVAILABLE)] * 9
        )
        with grpc.insecure_channel(participant.address) as ch:
            stub = participant_pb2_grpc.ParticipantServiceStub(ch)
            # The coordinator retries UNAVAILABLE: the retry gets the first call's output.
            assert (
                stub.Execute(execute_request(saga, {"amount": 7}, attempt=11), timeout=5).output == outputs[0]
            )
            assert effects_of(stub, saga) == {"executed": 1, "compensated": 0}
    finally:
        participant.stop(1)


def test_concurrent_duplicates_wait_and_all_get_the_same_output() -> None:
    participant = start(latency_seconds=0.3)
    try:
        saga = new_saga_id()
        results = _concurrent_executes(participant.address, saga, 12)
        assert all(isinstance(r, bytes) for r in results), results
        assert len(set(results)) == 1
        with grpc.insecure_channel(participant.address) as ch:
            assert effects_of(participant_pb2_grpc.ParticipantServiceStub(ch), saga) == {
                "executed": 1,
                "compensated": 0,
            }
    finally:
        participant.stop(1)


def test_a_call_past_its_deadline_stops_and_a_retry_runs_it() -> None:
    participant = start(latency_seconds=1.0)
    try:
        saga = new_saga_id()
        with grpc.insecure_channel(participant.address) as ch:
            stub = participant_pb2_grpc.ParticipantServiceStub(ch)
            with pytest.raises(grpc.RpcError) as info:
                stub.Execute(execute_request(saga, {"amount": 3}), timeout=0.3)
            assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            # The handler notices the deadline and releases its claim without charging.
            deadline = time.monotonic() + 5
            while participant.barrier.get(f"{saga}/charge") is not None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert participant.barrier.get(f"{saga}/charge") is None
            assert effects_of(stub, saga) == {"executed": 0, "compensated": 0}
            output = stub.Execute(execute_request(saga, {"amount": 3}, attempt=2), timeout=5).output
            assert json.loads(output)["charge_id"] == charge_id_for(saga, "charge")
            assert effects_of(stub, saga) == {"executed": 1, "compensated": 0}
    finally:
        participant.stop(1)


def test_stop_turns_health_not_serving_and_closes_the_port() -> None:
    participant = start()
    address = participant.address
    participant.stop(1)
    participant.stop(1)  # idempotent
    with grpc.insecure_channel(address) as ch:
        with pytest.raises(grpc.RpcError) as info:
            health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=1)
        assert info.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
