"""The command line, as a separate process: options, health, SIGTERM, restart on the same --db."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from conftest import ROOT, effects_of, execute_request, new_saga_id
from grpc_health.v1 import health_pb2, health_pb2_grpc

from payment_participant._proto import participant_pb2_grpc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    def __init__(self, *args: str, env: dict[str, str] | None = None, log: Path) -> None:
        self.log_path = log
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "payment_participant", *args],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text()

    def wait_serving(self, address: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(address) as ch:
            health = health_pb2_grpc.HealthStub(ch)
            while True:
                assert self.proc.poll() is None, f"participant exited early:\n{self.log()}"
                try:
                    res = health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if res.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                assert time.monotonic() < deadline, f"not serving after {timeout}s:\n{self.log()}"
                time.sleep(0.1)

    def terminate(self, timeout: float = 15) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._log.close()


@pytest.fixture
def processes():
    started: list[Process] = []
    yield started
    for p in started:
        p.kill()


def test_serves_on_the_listen_address_and_shuts_down_on_sigterm(tmp_path: Path, processes) -> None:
    address = f"127.0.0.1:{free_port()}"
    db = tmp_path / "payments.sqlite3"
    p = Process("--listen", address, "--db", str(db), log=tmp_path / "1.log")
    processes.append(p)
    p.wait_serving(address)
    saga = new_saga_id()
    with grpc.insecure_channel(address) as ch:
        stub = participant_pb2_grpc.ParticipantServiceStub(ch)
        output = stub.Execute(execute_request(saga, {"amount": 25}), timeout=5).output
        assert json.loads(output)["amount"] == 25
    assert p.terminate() == 0
    log = p.log()
    assert f"participant listening on {address}" in log
    assert "SIGTERM: shutting down gracefully" in log
    assert "stopped" in log

    # Same database after a restart: the duplicate is answered from the barrier, no new charge.
    p2 = Process("--db", str(db), env={"PARTICIPANT_LISTEN": address}, log=tmp_path / "2.log")
    processes.append(p2)
    p2.wait_serving(address)
    with grpc.insecure_channel(address) as ch:
        stub = participant_pb2_grpc.ParticipantServiceStub(ch)
        assert stub.Execute(execute_request(saga, {"amount": 25}, attempt=2), timeout=5).output == output
        assert effects_of(stub, saga) == {"executed": 0, "compensated": 0}  # counts are per process
    assert p2.terminate() == 0


def test_default_database_is_a_temp_file_removed_on_exit(tmp_path: Path, processes) -> None:
    address = f"127.0.0.1:{free_port()}"
    p = Process("--listen", address, env={"TMPDIR": str(tmp_path)}, log=tmp_path / "p.log")
    processes.append(p)
    p.wait_serving(address)
    assert list(tmp_path.glob("payment-participant-*.sqlite3"))
    assert p.terminate() == 0
    assert not list(tmp_path.glob("payment-participant-*"))


def test_an_address_in_use_exits_with_an_error(tmp_path: Path, processes) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        address = f"127.0.0.1:{s.getsockname()[1]}"
        p = Process("--listen", address, "--db", ":memory:", log=tmp_path / "p.log")
        processes.append(p)
        assert p.proc.wait(15) == 1
    assert "cannot listen on" in p.log()


def test_a_bad_option_is_a_usage_error(tmp_path: Path, processes) -> None:
    p = Process("--listen", "nonsense", log=tmp_path / "p.log")
    processes.append(p)
    assert p.proc.wait(15) == 1
    assert "HOST:PORT" in p.log()
