"""mTLS: the participant serves TLS only and answers Execute/Compensate only for the
coordinator's certificate. Certificates are made here with the openssl CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path

import grpc
import pytest
from conftest import compensate_request, effects_of, execute_request, new_saga_id

from payment_participant._proto import participant_pb2_grpc
from payment_participant.server import TlsFiles, start_participant


def _openssl(cwd: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _ca(dir_: Path, name: str):
    key, cert = dir_ / f"{name}.key", dir_ / f"{name}.crt"
    _openssl(dir_, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(key))
    _openssl(dir_, "req", "-x509", "-new", "-key", str(key), "-out", str(cert), "-subj", f"/CN={name}", "-days", "1")

    def issue(cn: str) -> tuple[Path, Path]:
        base = dir_ / f"{name}-{cn}"
        k, c, csr, ext = (base.with_suffix(s) for s in (".key", ".crt", ".csr", ".ext"))
        _openssl(dir_, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(k))
        _openssl(dir_, "req", "-new", "-key", str(k), "-out", str(csr), "-subj", f"/CN={cn}")
        ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n")
        _openssl(
            dir_, "x509", "-req", "-in", str(csr), "-CA", str(cert), "-CAkey", str(key), "-CAcreateserial",
            "-out", str(c), "-days", "1", "-extfile", str(ext),
        )  # fmt: skip
        return c, k

    return cert, issue


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    dir_ = tmp_path_factory.mktemp("pki")
    ca, issue = _ca(dir_, "saga-ca")
    _rogue_ca, rogue_issue = _ca(dir_, "rogue-ca")
    return {"ca": ca, "issue": issue, "rogue_issue": rogue_issue}


@pytest.fixture(scope="module")
def secured(pki):
    cert, key = pki["issue"]("payments")
    p = start_participant(
        "127.0.0.1:0",
        tls=TlsFiles(str(cert), str(key), str(pki["ca"])),
        allowed_callers=["coordinator"],
    )
    yield p
    p.stop(grace_seconds=1)


def _stub(pki, secured, identity: tuple[Path, Path] | None):
    creds = grpc.ssl_channel_credentials(
        root_certificates=pki["ca"].read_bytes(),
        private_key=identity[1].read_bytes() if identity else None,
        certificate_chain=identity[0].read_bytes() if identity else None,
    )
    channel = grpc.secure_channel(secured.address, creds)
    return channel, participant_pb2_grpc.ParticipantServiceStub(channel)


def test_the_coordinator_certificate_is_served(pki, secured) -> None:
    channel, stub = _stub(pki, secured, pki["issue"]("coordinator"))
    with channel:
        saga = new_saga_id()
        stub.Execute(execute_request(saga, {"amount": 5}), timeout=5)
        assert effects_of(stub, saga) == {"executed": 1, "compensated": 0}


@pytest.mark.parametrize("who", ["another identity", "the coordinator's name from an untrusted CA", "no certificate"])
def test_anyone_else_is_refused_before_the_barrier(pki, secured, who) -> None:
    identity = {
        "another identity": pki["issue"]("orders-client"),
        "the coordinator's name from an untrusted CA": pki["rogue_issue"]("coordinator"),
        "no certificate": None,
    }[who]
    channel, stub = _stub(pki, secured, identity)
    saga = new_saga_id()
    with channel:
        for call, request in ((stub.Execute, execute_request(saga, {"amount": 5})), (stub.Compensate, compensate_request(saga, {"amount": 5}))):
            with pytest.raises(grpc.RpcError) as info:
                call(request, timeout=5)
            # A trusted certificate of the wrong identity is PERMISSION_DENIED; the others fail the handshake.
            expected = grpc.StatusCode.PERMISSION_DENIED if who == "another identity" else grpc.StatusCode.UNAVAILABLE
            assert info.value.code() == expected, info.value.details()
            if who == "another identity":
                assert "orders-client" in info.value.details()
                assert "allowed: coordinator" in info.value.details()
    assert secured.effects.counts_for(f"{saga}/charge/execute") == {"executed": 0, "compensated": 0}


def test_plaintext_is_refused(secured) -> None:
    with grpc.insecure_channel(secured.address) as channel:
        stub = participant_pb2_grpc.ParticipantServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.Execute(execute_request(new_saga_id(), {"amount": 5}), timeout=5)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_allowed_callers_without_tls_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="allowed_callers needs tls"):
        start_participant("127.0.0.1:0", allowed_callers=["coordinator"])
