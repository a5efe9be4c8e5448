"""Command line: `python -m payment_participant --listen 127.0.0.1:7002 --db payments.sqlite3`."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence

DEFAULT_LISTEN = "127.0.0.1:7002"


def _non_negative_ms(value: str) -> float:
    try:
        ms = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {value!r}") from None
    if ms < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {value!r}")
    return ms / 1000


def _positive_ms(value: str) -> float:
    seconds = _non_negative_ms(value)
    if seconds == 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return seconds


def _log_level(value: str) -> str:
    level = value.strip().upper()
    if not isinstance(logging.getLevelName(level), int):
        raise argparse.ArgumentTypeError(f"unknown log level {value!r}")
    return level


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m payment_participant",
        description="Example saga participant: a payment service with a `charge` step "
        "(compensated by a refund) and the conformance.effects step.",
    )
    parser.add_argument(
        "--listen",
        default=os.environ.get("PARTICIPANT_LISTEN", DEFAULT_LISTEN),
        metavar="HOST:PORT",
        help=f"address to serve gRPC on; port 0 picks a free one (env PARTICIPANT_LISTEN, default {DEFAULT_LISTEN})",
    )
    parser.add_argument(
        "--db",
        default=os.environ.get("PARTICIPANT_DB"),
        metavar="PATH",
        help="SQLite file for the barrier records and charges (env PARTICIPANT_DB). Default: a new "
        "temporary file, deleted on exit. ':memory:' also works (one process only).",
    )
    parser.add_argument(
        "--lease-ms",
        type=_positive_ms,
        default=30.0,
        metavar="MS",
        help="how long a running handler's barrier claim lasts without renewal (default 30000)",
    )
    parser.add_argument(
        "--in-progress-wait-ms",
        type=_non_negative_ms,
        default=5.0,
        metavar="MS",
        help="how long a duplicate call waits for an in-progress one before answering UNAVAILABLE "
        "(capped by its deadline; default 5000)",
    )
    parser.add_argument(
        "--latency-ms",
        type=_non_negative_ms,
        default=0.0,
        metavar="MS",
        help="simulated payment-provider latency per charge (default 0)",
    )
    parser.add_argument(
        "--shutdown-timeout-ms",
        type=_non_negative_ms,
        default=30.0,
        metavar="MS",
        help="on SIGTERM/SIGINT, how long in-flight calls may finish before they are cancelled (default 30000)",
    )
    parser.add_argument(
        "--tls-cert",
        default=os.environ.get("PARTICIPANT_TLS_CERT"),
        metavar="FILE",
        help="serve mTLS with this certificate (PEM; needs --tls-key and --tls-ca; env PARTICIPANT_TLS_CERT)",
    )
    parser.add_argument("--tls-key", default=os.environ.get("PARTICIPANT_TLS_KEY"), metavar="FILE")
    parser.add_argument(
        "--tls-ca",
        default=os.environ.get("PARTICIPANT_TLS_CA"),
        metavar="FILE",
        help="CA of the coordinators' client certificates (env PARTICIPANT_TLS_CA)",
    )
    parser.add_argument(
        "--allowed-caller",
        action="append",
        default=[c for c in os.environ.get("PARTICIPANT_ALLOWED_CALLERS", "").split(",") if c] or None,
        metavar="NAME",
        help="certificate name (CN or SAN) of a coordinator allowed to call; repeat for more "
        "(env PARTICIPANT_ALLOWED_CALLERS, comma-separated). Anyone else: PERMISSION_DENIED",
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("LOG_LEVEL", "INFO").upper(),
        type=_log_level,
        help="DEBUG, INFO, WARNING or ERROR (env LOG_LEVEL, default INFO)",
    )
    return parser.parse_args(argv)


def _remove_db_files(path: str) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path + suffix)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logger = logging.getLogger("payment_participant")

    from .server import TlsFiles, start_participant  # after logging is set up; needs the generated code

    tls_files = (args.tls_cert, args.tls_key, args.tls_ca)
    if any(tls_files) and not all(tls_files):
        logger.error("--tls-cert, --tls-key and --tls-ca go together (mTLS)")
        return 2
    tls = TlsFiles(*tls_files) if all(tls_files) else None

    temp_db = args.db is None
    if temp_db:
        fd, db_path = tempfile.mkstemp(prefix="payment-participant-", suffix=".sqlite3")
        os.close(fd)
    else:
        db_path = args.db

    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        if stop.is_set():
            logger.warning("%s again: still shutting down", signal.Signals(signum).name)
        else:
            logger.info("%s: shutting down gracefully", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        participant = start_participant(
            args.listen,
            db_path,
            lease_seconds=args.lease_ms,
            in_progress_wait_seconds=args.in_progress_wait_ms,
            latency_seconds=args.latency_ms,
            logger=logger,
            tls=tls,
            allowed_callers=args.allowed_caller,
        )
    except (OSError, ValueError) as err:
        logger.error("%s", err)
        if temp_db:
            _remove_db_files(db_path)
        return 1

    try:
        # Short waits keep the main thread responsive to signals.
        while not stop.wait(0.5):
            pass
        participant.stop(args.shutdown_timeout_ms)
        logger.info("stopped")
    finally:
        if temp_db:
            _remove_db_files(db_path)
    return 0
