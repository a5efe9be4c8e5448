"""One SQLite connection shared by every gRPC worker thread.

Every statement runs under one lock, so the connection is safe to use from many
threads and `:memory:` works too (a second connection to `:memory:` would be a
different, empty database). Each barrier decision is a single statement or a
short `BEGIN IMMEDIATE` transaction, so SQLite's own locking also keeps it
atomic when several processes share one database file.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Database:
    def __init__(self, path: str, *, busy_timeout_ms: int = 5000) -> None:
        self.path = path
        self._lock = threading.RLock()
        # isolation_level=None: autocommit; transactions are explicit (BEGIN IMMEDIATE).
        self._conn = sqlite3.connect(
            path,
            check_same_thread=False,
            isolation_level=None,
            timeout=busy_timeout_ms / 1000,
        )
        self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if path != ":memory:" and not path.startswith("file::memory:"):
            # WAL: readers in other processes do not block the writer.
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
        self._closed = False

    def execute(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> int:
        """Runs one statement; returns the number of rows it changed."""
        with self._lock:
            return self._conn.execute(sql, params).rowcount

    def query_one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        with self._lock:
            return self._conn.execute(sql, params).fetchone()

    def script(self, sql: str) -> None:
        with self._lock:
            self._conn.executescript(sql)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: holds the lock and SQLite's write lock until it ends."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()
