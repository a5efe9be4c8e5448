"""The idempotency barrier on SQLite: at-least-once delivery, exactly-once effects.

The same rules as the TypeScript SDK's barrier (participant-sdk/src/barrier/):
one record per step, keyed "<saga_id>/<step>" and shared by Execute and
Compensate, so that one conditional write decides every race between them.

    (none) --Execute claims--> executing --handler returns--> executed --Compensate--> compensating --> compensated
                                  |  \\--BusinessFailure--> failed
                                  \\--handler raises: record deleted (a retry runs the handler again)
    (none) --Compensate first--> tombstone   (null compensation; a later Execute is ABORTED)

- duplicate Execute: returns the stored output (or replays the business failure), no re-run;
- concurrent duplicates: one `INSERT ... ON CONFLICT DO NOTHING` decides who runs the handler;
  the others wait up to `in_progress_wait_seconds` (capped by their deadline) for its result,
  then are refused with reason "in-progress" (UNAVAILABLE: the coordinator retries);
- null compensation: Compensate with no record inserts a tombstone, the handler does not run;
- hanging Execute: Execute after a tombstone (or after a compensation) is refused (ABORTED);
- repeated Compensate: no-op once compensated.

A running handler holds its record with a lease that a background thread renews
every third of its length. If the process dies mid-handler, the lease runs out
and the next call takes the record over (a Compensate then runs with
execute_outcome "interrupted": the effect may be partly applied).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .database import Database
from .errors import BusinessFailure, CallCancelled

EXECUTING = "executing"
EXECUTED = "executed"
FAILED = "failed"
TOMBSTONE = "tombstone"
COMPENSATING = "compensating"
COMPENSATED = "compensated"

ExecuteOutcome = Literal["completed", "interrupted", "unknown"]
CompensateResult = Literal["compensated", "null-compensation", "already-done"]
RefusalReason = Literal["in-progress", "hanging", "compensated", "lease-lost"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS saga_barrier (
  key             TEXT PRIMARY KEY,  -- "<saga_id>/<step>"
  state           TEXT NOT NULL,     -- executing|executed|failed|tombstone|compensating|compensated
  version         INTEGER NOT NULL,  -- 1 on insert, +1 on every update
  owner           TEXT,              -- while executing/compensating: the call holding the lease
  lease_until     REAL,              -- epoch seconds after which another call may take over
  output          BLOB,              -- Execute's output
  failure         TEXT,              -- failed: the business failure's message
  execute_outcome TEXT,              -- compensating/compensated: completed|interrupted
  updated_at      REAL NOT NULL      -- epoch seconds of the last write
) WITHOUT ROWID;
"""

_COLUMNS = (
    "key",
    "state",
    "version",
    "owner",
    "lease_until",
    "output",
    "failure",
    "execute_outcome",
    "updated_at",
)
_CONTENT = _COLUMNS[3:]  # what an update replaces (besides state; version is bumped)


class BarrierRefusal(Exception):
    """The barrier answered without running the handler and without a stored result.

    "hanging" / "compensated": ABORTED (a business "no": the step must not take effect).
    "in-progress" / "lease-lost": UNAVAILABLE (retry shortly).
    """

    def __init__(self, reason: RefusalReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class BarrierRecord:
    key: str
    state: str
    version: int
    owner: str | None = None
    lease_until: float | None = None
    output: bytes | None = None
    failure: str | None = None
    execute_outcome: str | None = None
    updated_at: float = 0.0


@dataclass
class CallLimits:
    """Limits of one barrier call: an absolute deadline (epoch seconds, the barrier's
    clock) and an event that is set when the call was cancelled."""

    deadline: float | None = None
    cancelled: threading.Event | None = None


@dataclass
class ExecuteClaim:
    """Given to an Execute handler: `lost` is set when another call took the record over."""

    lost: threading.Event


@dataclass
class CompensateClaim:
    lost: threading.Event
    #: Execute's output as the barrier recorded it (empty if the Execute was interrupted).
    execute_output: bytes
    execute_outcome: ExecuteOutcome


@dataclass
class _Content:
    """A record's content as written by an update (everything but key and version)."""

    state: str
    updated_at: float
    owner: str | None = None
    lease_until: float | None = None
    output: bytes | None = None
    failure: str | None = None
    execute_outcome: str | None = None


class BarrierStore:
    """Four atomic single-record operations on the `saga_barrier` table."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.script(SCHEMA)

    def insert_if_absent(self, record: BarrierRecord) -> tuple[bool, BarrierRecord | None]:
        """Inserts `record` unless its key exists: this one statement decides between
        concurrent callers. Returns (True, None) if inserted, else (False, the existing
        record), read in the same transaction."""
        values = tuple(getattr(record, c) for c in _COLUMNS)
        with self.db.transaction() as conn:
            cur = conn.execute(
                f"INSERT INTO saga_barrier ({', '.join(_COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in _COLUMNS)}) ON CONFLICT(key) DO NOTHING",
                values,
            )
            if cur.rowcount == 1:
                return True, None
            row = conn.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM saga_barrier WHERE key = ?", (record.key,)
            ).fetchone()
        return False, (BarrierRecord(*row) if row else None)

    def update(
        self,
        key: str,
        content: _Content,
        *,
        state: str,
        version: int | None = None,
        owner: str | None = None,
    ) -> bool:
        """Replaces the record's content if it is in `state` (and has `version` /
        `owner`, when given). True if it matched."""
        where = ["key = ?", "state = ?"]
        params: list[Any] = [key, state]
        if version is not None:
            where.append("version = ?")
            params.append(version)
        if owner is not None:
            where.append("owner = ?")
            params.append(owner)
        values = [
            content.state,
            content.owner,
            content.lease_until,
            content.output,
            content.failure,
            content.execute_outcome,
            content.updated_at,
        ]
        changed = self.db.execute(
            "UPDATE saga_barrier SET state = ?, owner = ?, lease_until = ?, output = ?, failure = ?, "
            f"execute_outcome = ?, updated_at = ?, version = version + 1 WHERE {' AND '.join(where)}",
            tuple(values + params),
        )
        return changed == 1

    def renew(self, key: str, *, state: str, owner: str, lease_until: float, now: float) -> bool:
        changed = self.db.execute(
            "UPDATE saga_barrier SET lease_until = ?, updated_at = ?, version = version + 1 "
            "WHERE key = ? AND state = ? AND owner = ?",
            (lease_until, now, key, state, owner),
        )
        return changed == 1

    def delete(self, key: str, *, state: str, owner: str) -> bool:
        changed = self.db.execute(
            "DELETE FROM saga_barrier WHERE key = ? AND state = ? AND owner = ?", (key, state, owner)
        )
        return changed == 1

    def get(self, key: str) -> BarrierRecord | None:
        row = self.db.query_one(f"SELECT {', '.join(_COLUMNS)} FROM saga_barrier WHERE key = ?", (key,))
        return BarrierRecord(*row) if row else None


class _Lease:
    """The claim of one running handler on its record. Renewed every third of the
    lease by a daemon thread; every write is conditional on state + owner, so a
    call that lost its claim to a takeover can no longer change the record."""

    def __init__(self, barrier: Barrier, key: str, owner: str, state: str) -> None:
        self._barrier = barrier
        self.key = key
        self.owner = owner
        self.state = state
        self.lost = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._renew_loop, name=f"lease {key}", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        interval = max(0.001, self._barrier.lease_seconds / 3)
        while not self._stopped.wait(interval):
            now = self._barrier.clock()
            try:
                held = self._barrier.store.renew(
                    self.key,
                    state=self.state,
                    owner=self.owner,
                    lease_until=now + self._barrier.lease_seconds,
                    now=now,
                )
            except sqlite3.Error:
                # A failed renewal is not a lost lease: the next one may get through before expiry.
                self._barrier.logger.warning("renewing the lease on %s failed", self.key, exc_info=True)
                continue
            if not held and not self._stopped.is_set():
                self.lost.set()
                return

    def _stop(self) -> None:
        self._stopped.set()
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def finish(self, content: _Content) -> bool:
        """Writes the final content if this call still holds the record. A store error is
        retried for about 3 s: once the effect is applied, losing the record would let
        the lease expire and a retry run the handler again."""
        self._stop()
        delay = 0.05
        for attempt in range(6):
            try:
                return self._barrier.store.update(self.key, content, state=self.state, owner=self.owner)
            except sqlite3.Error:
                if attempt == 5:
                    raise
                self._barrier.logger.warning("writing the result of %s failed; retrying", self.key)
                time.sleep(delay)
                delay = min(1.0, delay * 2)
        return False  # unreachable

    def drop(self) -> bool:
        """Deletes the record if this call still holds it."""
        self._stop()
        return self._barrier.store.delete(self.key, state=self.state, owner=self.owner)


def _lost_lease(key: str) -> BarrierRefusal:
    return BarrierRefusal("lease-lost", f"the claim on step {key} was taken over by another call; retry")


class Barrier:
    """Runs each step's Execute handler at most once and its Compensate handler at
    most once (and only if it executed), however often and however concurrently
    the coordinator delivers the calls."""

    def __init__(
        self,
        store: BarrierStore,
        *,
        lease_seconds: float = 30.0,
        in_progress_wait_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
        logger: logging.Logger | None = None,
    ) -> None:
        self.store = store
        self.lease_seconds = lease_seconds
        self.in_progress_wait_seconds = in_progress_wait_seconds
        self.clock = clock
        self.logger = logger or logging.getLogger(__name__)

    def get(self, key: str) -> BarrierRecord | None:
        return self.store.get(key)

    def execute(
        self,
        key: str,
        handler: Callable[[ExecuteClaim], bytes | None],
        limits: CallLimits | None = None,
    ) -> tuple[bytes, bool]:
        """Runs `handler` at most once for `key` and returns `(output, ran)` to every
        caller (`ran`: this call ran the handler). Raises BusinessFailure (replayed from
        the record), BarrierRefusal, or the handler's own error (after which a later
        call may run it again)."""
        limits = limits or CallLimits()
        wait_until = self._wait_until(limits)
        poll = 0
        while True:
            now = self.clock()
            owner = uuid.uuid4().hex
            claim = BarrierRecord(
                key=key,
                state=EXECUTING,
                version=1,
                owner=owner,
                lease_until=now + self.lease_seconds,
                updated_at=now,
            )
            inserted, existing = self.store.insert_if_absent(claim)
            if inserted:
                return self._run_execute(key, owner, handler), True
            if existing is None:
                continue  # cannot happen inside one transaction; retry to be safe
            if existing.state == EXECUTED:
                return existing.output or b"", False
            if existing.state == FAILED:
                raise BusinessFailure(existing.failure or "business failure")
            if existing.state == TOMBSTONE:
                raise BarrierRefusal(
                    "hanging", f"step {key} was compensated before it executed; refusing to execute"
                )
            if existing.state in (COMPENSATING, COMPENSATED):
                raise BarrierRefusal(
                    "compensated", f"step {key} has been compensated; refusing to execute again"
                )
            # EXECUTING: another call holds it.
            if self._expired(existing, now):
                # The holder died or stalled: take its record over (one conditional write decides).
                content = _Content(
                    state=EXECUTING, owner=owner, lease_until=now + self.lease_seconds, updated_at=now
                )
                if self.store.update(key, content, state=EXECUTING, version=existing.version):
                    self.logger.warning("taking over %s from an expired claim", key)
                    return self._run_execute(key, owner, handler), True
                continue
            self._wait_for_in_progress(key, poll, wait_until, limits)
            poll += 1

    def compensate(
        self,
        key: str,
        handler: Callable[[CompensateClaim], None],
        limits: CallLimits | None = None,
    ) -> CompensateResult:
        """Compensates `key` exactly once: runs `handler` only if the step executed (or
        its Execute was interrupted), records a tombstone if it never did."""
        limits = limits or CallLimits()
        wait_until = self._wait_until(limits)
        poll = 0
        while True:
            now = self.clock()
            owner = uuid.uuid4().hex
            tombstone = BarrierRecord(key=key, state=TOMBSTONE, version=1, updated_at=now)
            inserted, existing = self.store.insert_if_absent(tombstone)
            if inserted:
                return "null-compensation"
            if existing is None:
                continue
            if existing.state in (TOMBSTONE, COMPENSATED, FAILED):
                # FAILED: a business failure took no effect, nothing to undo.
                return "already-done"
            if existing.state == EXECUTED:
                content = _Content(
                    state=COMPENSATING,
                    owner=owner,
                    lease_until=now + self.lease_seconds,
                    updated_at=now,
                    output=existing.output or b"",
                    execute_outcome="completed",
                )
                if self.store.update(key, content, state=EXECUTED, version=existing.version):
                    return self._run_compensate(key, content, handler)
                continue
            # EXECUTING or COMPENSATING: another call holds it.
            if self._expired(existing, now):
                # An Execute that died mid-handler may have left a partial effect: compensate it.
                outcome = (
                    "interrupted"
                    if existing.state == EXECUTING
                    else (existing.execute_outcome or "completed")
                )
                content = _Content(
                    state=COMPENSATING,
                    owner=owner,
                    lease_until=now + self.lease_seconds,
                    updated_at=now,
                    output=existing.output or b"",
                    execute_outcome=outcome,
                )
                if self.store.update(key, content, state=existing.state, version=existing.version):
                    return self._run_compensate(key, content, handler)
                continue
            self._wait_for_in_progress(key, poll, wait_until, limits)
            poll += 1

    def _run_execute(self, key: str, owner: str, handler: Callable[[ExecuteClaim], bytes | None]) -> bytes:
        lease = _Lease(self, key, owner, EXECUTING)
        try:
            output = bytes(handler(ExecuteClaim(lost=lease.lost)) or b"")
        except BusinessFailure as err:
            if not lease.finish(_Content(state=FAILED, failure=str(err), updated_at=self.clock())):
                raise _lost_lease(key) from err
            raise
        except BaseException:
            # Release the claim so that a retry runs the handler again. If even that fails,
            # the claim simply expires with its lease.
            try:
                lease.drop()
            except sqlite3.Error:
                self.logger.warning("releasing %s failed", key, exc_info=True)
            raise
        if lease.finish(_Content(state=EXECUTED, output=output, updated_at=self.clock())):
            return output
        # Not held any more: a takeover finished first.
        record = self.store.get(key)
        if record is not None and record.state == EXECUTED:
            return record.output or b""
        raise _lost_lease(key)

    def _run_compensate(
        self, key: str, content: _Content, handler: Callable[[CompensateClaim], None]
    ) -> CompensateResult:
        assert content.owner is not None
        lease = _Lease(self, key, content.owner, COMPENSATING)
        outcome: ExecuteOutcome = content.execute_outcome or "completed"  # type: ignore[assignment]
        try:
            handler(
                CompensateClaim(
                    lost=lease.lost, execute_output=content.output or b"", execute_outcome=outcome
                )
            )
        except BaseException:
            # Stay "compensating" with an expired lease: the next Compensate takes over at once,
            # and a late Execute is still refused.
            released = _Content(
                state=COMPENSATING,
                owner=None,
                lease_until=0.0,
                output=content.output,
                execute_outcome=outcome,
                updated_at=self.clock(),
            )
            try:
                lease.finish(released)
            except sqlite3.Error:
                self.logger.warning("releasing %s failed", key, exc_info=True)
            raise
        done = _Content(
            state=COMPENSATED, output=content.output or b"", execute_outcome=outcome, updated_at=self.clock()
        )
        if lease.finish(done):
            return "compensated"
        record = self.store.get(key)
        if record is not None and record.state == COMPENSATED:
            return "compensated"
        raise _lost_lease(key)

    def _expired(self, record: BarrierRecord, now: float) -> bool:
        return (record.lease_until or 0.0) <= now

    def _wait_until(self, limits: CallLimits) -> float:
        by_wait = self.clock() + self.in_progress_wait_seconds
        # Leave the caller time to send its answer before its own deadline.
        return by_wait if limits.deadline is None else min(by_wait, limits.deadline - 0.05)

    def _wait_for_in_progress(self, key: str, poll: int, wait_until: float, limits: CallLimits) -> None:
        delay = min(0.1, 0.005 * 1.5**poll)
        if self.clock() + delay > wait_until:
            raise BarrierRefusal("in-progress", f"another call for step {key} is still in progress; retry")
        if limits.cancelled is not None:
            if limits.cancelled.wait(delay):
                raise CallCancelled(f"call for step {key} ended while waiting for another call")
        else:
            time.sleep(delay)
