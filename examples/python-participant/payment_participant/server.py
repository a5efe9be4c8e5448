"""The gRPC server: saga.v1.ParticipantService over the barrier, plus grpc.health.v1."""

from __future__ import annotations

import logging
import sqlite3
import threading
from concurrent import futures
from dataclasses import dataclass
from collections.abc import Sequence
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from ._proto import participant_pb2, participant_pb2_grpc
from .barrier import Barrier, BarrierRefusal, BarrierStore, CallLimits
from .database import Database
from .effects import EffectCounter
from .errors import BusinessFailure, CallCancelled, CallRejection, TransientFailure
from .payments import Ledger, payment_steps
from .steps import CompensateContext, ExecuteContext, StepHandlers

SERVICE_NAME = participant_pb2.DESCRIPTOR.services_by_name["ParticipantService"].full_name


def status_of(err: BaseException, call_ended: bool) -> tuple[grpc.StatusCode, str]:
    """How an error is answered, by the outcome rules of participant.proto: only a
    business "no" or the barrier's refusal of a late Execute may be
    FAILED_PRECONDITION/ABORTED; everything unexpected is transient."""
    if isinstance(err, BusinessFailure):
        return grpc.StatusCode.FAILED_PRECONDITION, str(err)
    if isinstance(err, CallRejection):
        return err.code, str(err)
    if isinstance(err, BarrierRefusal):
        refused = err.reason in ("hanging", "compensated")
        return (grpc.StatusCode.ABORTED if refused else grpc.StatusCode.UNAVAILABLE), str(err)
    if isinstance(err, TransientFailure):
        return grpc.StatusCode.UNAVAILABLE, str(err)
    if isinstance(err, CallCancelled) or call_ended:
        return grpc.StatusCode.DEADLINE_EXCEEDED, f"call ended before the handler: {err}"
    if isinstance(err, sqlite3.Error):
        return grpc.StatusCode.UNAVAILABLE, f"barrier store: {err}"
    return grpc.StatusCode.INTERNAL, str(err) or type(err).__name__


class _CallScope:
    """A call's deadline (on the barrier's clock) and cancellation."""

    def __init__(self, context: grpc.ServicerContext, barrier: Barrier) -> None:
        self._context = context
        self.cancelled = threading.Event()
        context.add_callback(self.cancelled.set)  # runs when the RPC terminates for any reason
        remaining = context.time_remaining()
        self.deadline = None if remaining is None else barrier.clock() + remaining
        self._clock = barrier.clock

    def ended(self) -> bool:
        if self.cancelled.is_set() or not self._context.is_active():
            return True
        return self.deadline is not None and self._clock() >= self.deadline

    def limits(self) -> CallLimits:
        return CallLimits(deadline=self.deadline, cancelled=self.cancelled)


def _barrier_key(saga_id: str, step: str, idempotency_key: str, phase: str) -> str:
    """The barrier record of a call: "<saga_id>/<step>", shared by Execute and Compensate.
    The request's key must be exactly the protocol's "<saga_id>/<step>/<phase>", so a
    confused caller cannot alias two steps."""
    expected = f"{saga_id}/{step}/{phase}"
    if saga_id == "" or idempotency_key != expected:
        raise CallRejection(
            grpc.StatusCode.INVALID_ARGUMENT,
            f'idempotency_key must be "<saga_id>/<step>/{phase}" (here "{expected}"), got "{idempotency_key}"'
            + (" and saga_id is empty" if saga_id == "" else ""),
        )
    return f"{saga_id}/{step}"


class _CallLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Prefixes a call's messages with its saga, step, phase and attempt; the same
    fields are on each record (record.saga_id, ...) for structured handlers."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        extra = self.extra or {}
        kwargs["extra"] = {**extra, **kwargs.get("extra", {})}
        prefix = f"[{extra.get('saga_id')}/{extra.get('step')} {extra.get('phase')} #{extra.get('attempt')}]"
        return f"{prefix} {msg}", kwargs


@dataclass(frozen=True)
class TlsFiles:
    """PEM files: this participant's certificate and key, and the CA that signs the
    coordinators' client certificates (client certificates are then required)."""

    cert: str
    key: str
    ca: str

    def server_credentials(self) -> grpc.ServerCredentials:
        def read(path: str) -> bytes:
            with open(path, "rb") as f:
                return f.read()

        return grpc.ssl_server_credentials(
            [(read(self.key), read(self.cert))], root_certificates=read(self.ca), require_client_auth=True
        )


def caller_identities(context: grpc.ServicerContext) -> list[str]:
    """The names a verified client certificate proves: its CN, then its SANs."""
    auth = context.auth_context()
    names: list[str] = []
    for key in ("x509_common_name", "x509_subject_alternative_name"):
        for value in auth.get(key, []):
            name = value.decode() if isinstance(value, bytes) else str(value)
            if name not in names:
                names.append(name)
    return names


class ParticipantServicer(participant_pb2_grpc.ParticipantServiceServicer):
    """Routes Execute/Compensate to the step's handlers through the barrier. With
    `allowed_callers`, only a caller whose verified certificate names one of them gets
    past the first line: anyone else is refused before the barrier is touched."""

    def __init__(
        self,
        steps: dict[str, StepHandlers],
        barrier: Barrier,
        logger: logging.Logger,
        allowed_callers: frozenset[str] | None = None,
    ) -> None:
        self.steps = steps
        self.barrier = barrier
        self.logger = logger
        self.allowed_callers = allowed_callers

    def _refuse_unknown_caller(self, request: Any, context: grpc.ServicerContext) -> None:
        if self.allowed_callers is None:
            return
        names = caller_identities(context)
        if any(name in self.allowed_callers for name in names):
            return
        allowed = ", ".join(sorted(self.allowed_callers))
        details = (
            f"caller {', '.join(names)} is not an allowed coordinator identity (allowed: {allowed})"
            if names
            else "caller presented no client certificate; this participant accepts only the coordinator's (mTLS)"
        )
        self.logger.warning("%s: saga %s step %s from %s", details, request.saga_id, request.step, context.peer())
        context.abort(grpc.StatusCode.PERMISSION_DENIED, details)

    def Execute(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802 (gRPC name)
        self._refuse_unknown_caller(request, context)
        scope = _CallScope(context, self.barrier)
        try:
            output = self._execute(request, scope)
        except Exception as err:  # noqa: BLE001 - every error becomes a status
            self._abort(context, request, "execute", err, scope)
        return participant_pb2.ExecuteResponse(output=output)

    def Compensate(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        self._refuse_unknown_caller(request, context)
        scope = _CallScope(context, self.barrier)
        try:
            self._compensate(request, scope)
        except Exception as err:  # noqa: BLE001
            self._abort(context, request, "compensate", err, scope)
        return participant_pb2.CompensateResponse()

    def _prepare(self, req: Any, phase: str) -> tuple[Any, str, Any, dict[str, Any]]:
        """What both phases need: handlers, barrier key, a call logger, the common context."""
        handlers = self._handlers_for(req.step)
        key = _barrier_key(req.saga_id, req.step, req.idempotency_key, phase)
        logger = self._call_logger(req, phase)
        base = dict(
            saga_id=req.saga_id,
            saga_type=req.saga_type,
            step=req.step,
            idempotency_key=req.idempotency_key,
            attempt=req.attempt,
            payload=bytes(req.payload),
            content_type=req.content_type,
            logger=logger,
        )
        return handlers, key, logger, base

    def _execute(self, req: Any, scope: _CallScope) -> bytes:
        handlers, key, logger, base = self._prepare(req, "execute")
        base["dependency_outputs"] = {k: bytes(v) for k, v in req.dependency_outputs.items()}
        if not handlers.barrier:
            return bytes(handlers.execute(ExecuteContext(**base, is_cancelled=scope.ended)) or b"")

        def run(claim: Any) -> bytes | None:
            ctx = ExecuteContext(**base, is_cancelled=lambda: scope.ended() or claim.lost.is_set())
            return handlers.execute(ctx)

        output, ran = self.barrier.execute(key, run, scope.limits())
        logger.debug("executed" if ran else "execute replayed from the barrier")
        return output

    def _compensate(self, req: Any, scope: _CallScope) -> None:
        handlers, key, logger, base = self._prepare(req, "compensate")
        base["reason"] = req.reason
        if not handlers.barrier:
            handlers.compensate(
                CompensateContext(
                    **base,
                    execute_output=bytes(req.execute_output),
                    execute_outcome="unknown",
                    is_cancelled=scope.ended,
                )
            )
            return

        def run(claim: Any) -> None:
            handlers.compensate(
                CompensateContext(
                    **base,
                    # The barrier's copy is authoritative; the coordinator's is empty when it never saw it.
                    execute_output=claim.execute_output or bytes(req.execute_output),
                    execute_outcome=claim.execute_outcome,
                    is_cancelled=lambda: scope.ended() or claim.lost.is_set(),
                )
            )

        result = self.barrier.compensate(key, run, scope.limits())
        if result == "null-compensation":
            logger.info("null compensation: step never executed here, tombstone recorded")
        else:
            logger.debug(result)

    def _handlers_for(self, step: str) -> StepHandlers:
        handlers = self.steps.get(step)
        if handlers is not None:
            return handlers
        # FAILED_PRECONDITION, not NOT_FOUND/UNIMPLEMENTED: the coordinator retries every code other
        # than FAILED_PRECONDITION/ABORTED, and a step this participant does not know never succeeds.
        known = ", ".join(sorted(self.steps)) or "no steps"
        raise CallRejection(
            grpc.StatusCode.FAILED_PRECONDITION, f'unknown step "{step}": this participant implements {known}'
        )

    def _call_logger(self, req: Any, phase: str) -> logging.LoggerAdapter[Any]:
        return _CallLogger(
            self.logger,
            {"saga_id": req.saga_id, "step": req.step, "attempt": req.attempt, "phase": phase},
        )

    def _abort(
        self, context: grpc.ServicerContext, req: Any, phase: str, err: Exception, scope: _CallScope
    ) -> None:
        code, details = status_of(err, scope.ended())
        level = logging.WARNING if code == grpc.StatusCode.INTERNAL else logging.DEBUG
        self.logger.log(
            level,
            "%s %s/%s answered %s: %s",
            phase,
            req.saga_id,
            req.step,
            code.name,
            details,
            exc_info=code == grpc.StatusCode.INTERNAL,
        )
        context.abort(code, details)


def split_listen(listen: str) -> tuple[str, int]:
    """Splits "host:port" or "[v6]:port" -> (host, port). Port 0 picks a free port."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(
            f'listen address must be "HOST:PORT" (e.g. 127.0.0.1:7002, [::1]:7002), got "{listen}"'
        )
    return host, int(port)


@dataclass
class RunningParticipant:
    server: grpc.Server
    health: health.HealthServicer
    db: Database
    barrier: Barrier
    ledger: Ledger
    effects: EffectCounter
    #: "host:port" actually bound (the real port when listening on port 0).
    address: str
    port: int

    def stop(self, grace_seconds: float = 30.0) -> None:
        """Turns health NOT_SERVING, stops accepting calls, waits up to `grace_seconds`
        for in-flight calls (then cancels them) and closes the database. Idempotent."""
        self.health.enter_graceful_shutdown()
        self.server.stop(grace_seconds).wait()
        self.db.close()


def start_participant(
    listen: str = "127.0.0.1:7002",
    db_path: str = ":memory:",
    *,
    lease_seconds: float = 30.0,
    in_progress_wait_seconds: float = 5.0,
    latency_seconds: float = 0.0,
    max_workers: int = 32,
    logger: logging.Logger | None = None,
    tls: TlsFiles | None = None,
    allowed_callers: Sequence[str] | None = None,
) -> RunningParticipant:
    """Opens the database, binds `listen` and starts serving. `:memory:` is fine: all
    threads share one connection. With `tls` it serves mTLS only; `allowed_callers`
    (certificate names of the coordinators) then refuses everyone else."""
    if allowed_callers is not None and tls is None:
        raise ValueError("allowed_callers needs tls: callers are known only by their client certificate")
    if allowed_callers is not None and len(allowed_callers) == 0:
        raise ValueError("allowed_callers is empty: no coordinator could call; leave it out to accept any caller")
    logger = logger or logging.getLogger("payment_participant")
    host, port = split_listen(listen)
    db = Database(db_path)
    try:
        barrier = Barrier(
            BarrierStore(db),
            lease_seconds=lease_seconds,
            in_progress_wait_seconds=in_progress_wait_seconds,
            logger=logger.getChild("barrier"),
        )
        ledger = Ledger(db)
        effects = EffectCounter()
        steps = payment_steps(ledger, effects, latency_seconds=latency_seconds)

        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
            # Without this, a second process could bind the same port and take half the calls.
            options=[("grpc.so_reuseport", 0)],
        )
        participant_pb2_grpc.add_ParticipantServiceServicer_to_server(
            ParticipantServicer(
                steps, barrier, logger, frozenset(allowed_callers) if allowed_callers is not None else None
            ),
            server,
        )
        health_servicer = health.HealthServicer(experimental_non_blocking=True)
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        for service in ("", SERVICE_NAME):
            health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
        try:
            target = f"{host}:{port}"
            bound = (
                server.add_secure_port(target, tls.server_credentials()) if tls else server.add_insecure_port(target)
            )
        except RuntimeError as err:
            raise OSError(f"cannot listen on {listen}: {err}") from err
        if bound == 0:
            raise OSError(f"cannot listen on {listen}")
        server.start()
    except BaseException:
        db.close()
        raise
    address = f"{host}:{bound}"
    logger.info("participant listening on %s (steps: %s; db: %s)", address, ", ".join(sorted(steps)), db_path)
    return RunningParticipant(
        server=server,
        health=health_servicer,
        db=db,
        barrier=barrier,
        ledger=ledger,
        effects=effects,
        address=address,
        port=bound,
    )
