"""The barrier's rules, without gRPC: duplicates, null compensation, hanging Executes,
repeated Compensates, concurrent duplicates (threads, and two connections to one
file as two processes would have), leases."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from payment_participant.barrier import (
    EXECUTING,
    Barrier,
    BarrierRecord,
    BarrierRefusal,
    BarrierStore,
    CallLimits,
    CompensateClaim,
    ExecuteClaim,
)
from payment_participant.database import Database
from payment_participant.errors import BusinessFailure, CallCancelled

KEY = "saga-1/charge"


@pytest.fixture
def db() -> Iterator[Database]:
    database = Database(":memory:")
    yield database
    database.close()


def make_barrier(db: Database, **options) -> Barrier:
    return Barrier(BarrierStore(db), **options)


@pytest.fixture
def barrier(db: Database) -> Barrier:
    return make_barrier(db)


class Handlers:
    """Counting handlers."""

    def __init__(self, output: bytes = b'{"charge_id":"ch_1"}') -> None:
        self.output = output
        self.executed = 0
        self.compensated = 0
        self.compensate_claims: list[CompensateClaim] = []
        self._lock = threading.Lock()

    def execute(self, claim: ExecuteClaim) -> bytes:
        with self._lock:
            self.executed += 1
        return self.output

    def compensate(self, claim: CompensateClaim) -> None:
        with self._lock:
            self.compensated += 1
            self.compensate_claims.append(claim)


def test_duplicate_execute_returns_the_stored_output_without_rerunning(barrier: Barrier) -> None:
    h = Handlers()
    assert barrier.execute(KEY, h.execute) == (h.output, True)
    assert barrier.execute(KEY, h.execute) == (h.output, False)
    assert barrier.execute(KEY, lambda _: b"something else") == (h.output, False)
    assert h.executed == 1
    assert barrier.get(KEY).state == "executed"


def test_empty_output_is_stored_and_replayed(barrier: Barrier) -> None:
    assert barrier.execute(KEY, lambda _: None) == (b"", True)
    assert barrier.execute(KEY, lambda _: b"x") == (b"", False)


def test_business_failure_is_recorded_and_replayed(barrier: Barrier) -> None:
    calls = 0

    def declined(_: ExecuteClaim) -> bytes:
        nonlocal calls
        calls += 1
        raise BusinessFailure("insufficient funds")

    for _ in range(3):
        with pytest.raises(BusinessFailure, match="insufficient funds"):
            barrier.execute(KEY, declined)
    assert calls == 1
    # It took no effect: nothing to compensate.
    h = Handlers()
    assert barrier.compensate(KEY, h.compensate) == "already-done"
    assert h.compensated == 0


def test_null_compensation_records_a_tombstone_and_does_not_run_the_handler(barrier: Barrier) -> None:
    h = Handlers()
    assert barrier.compensate(KEY, h.compensate) == "null-compensation"
    assert h.compensated == 0
    assert barrier.get(KEY).state == "tombstone"
    # Repeated: still nothing to do.
    assert barrier.compensate(KEY, h.compensate) == "already-done"
    assert h.compensated == 0


def test_execute_after_a_tombstone_is_refused_as_hanging(barrier: Barrier) -> None:
    h = Handlers()
    barrier.compensate(KEY, h.compensate)
    for _ in range(2):
        with pytest.raises(BarrierRefusal) as refused:
            barrier.execute(KEY, h.execute)
        assert refused.value.reason == "hanging"
        assert "compensated before it executed" in str(refused.value)
    assert h.executed == 0


def test_repeated_compensate_undoes_once_with_the_recorded_output(barrier: Barrier) -> None:
    h = Handlers()
    barrier.execute(KEY, h.execute)
    assert barrier.compensate(KEY, h.compensate) == "compensated"
    assert barrier.compensate(KEY, h.compensate) == "already-done"
    assert barrier.compensate(KEY, h.compensate) == "already-done"
    assert h.compensated == 1
    claim = h.compensate_claims[0]
    assert claim.execute_output == h.output
    assert claim.execute_outcome == "completed"
    assert barrier.get(KEY).state == "compensated"


def test_execute_after_compensation_is_refused(barrier: Barrier) -> None:
    h = Handlers()
    barrier.execute(KEY, h.execute)
    barrier.compensate(KEY, h.compensate)
    with pytest.raises(BarrierRefusal) as refused:
        barrier.execute(KEY, h.execute)
    assert refused.value.reason == "compensated"
    assert h.executed == 1


def test_a_failing_handler_releases_the_claim_so_a_retry_runs_again(barrier: Barrier) -> None:
    attempts = 0

    def flaky(_: ExecuteClaim) -> bytes:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("payment provider timed out")
        return b"ok"

    with pytest.raises(RuntimeError):
        barrier.execute(KEY, flaky)
    assert barrier.get(KEY) is None
    assert barrier.execute(KEY, flaky) == (b"ok", True)
    assert attempts == 2


def test_a_failing_compensation_is_retried_and_still_refuses_a_late_execute(barrier: Barrier) -> None:
    h = Handlers()
    barrier.execute(KEY, h.execute)
    calls = 0

    def flaky(_: CompensateClaim) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("refund API down")

    with pytest.raises(RuntimeError):
        barrier.compensate(KEY, flaky)
    assert barrier.get(KEY).state == "compensating"
    with pytest.raises(BarrierRefusal) as refused:
        barrier.execute(KEY, h.execute)
    assert refused.value.reason == "compensated"
    # The next Compensate takes over at once (the failed one released its lease).
    assert barrier.compensate(KEY, flaky) == "compensated"
    assert calls == 2


def test_concurrent_duplicates_run_the_handler_once_and_others_are_unavailable_while_in_progress(
    db: Database,
) -> None:
    barrier = make_barrier(db, in_progress_wait_seconds=0)
    started = threading.Event()
    release = threading.Event()
    runs = 0

    def slow(_: ExecuteClaim) -> bytes:
        nonlocal runs
        runs += 1
        started.set()
        assert release.wait(10)
        return b"charged"

    first: list[object] = []
    holder = threading.Thread(target=lambda: first.append(barrier.execute(KEY, slow)))
    holder.start()
    assert started.wait(5)

    refusals: list[str] = []
    results: list[object] = []
    lock = threading.Lock()

    def duplicate() -> None:
        try:
            out = barrier.execute(KEY, slow)
            with lock:
                results.append(out)
        except BarrierRefusal as refusal:
            with lock:
                refusals.append(refusal.reason)

    threads = [threading.Thread(target=duplicate) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == []
    assert refusals == ["in-progress"] * 16

    release.set()
    holder.join(10)
    assert first == [(b"charged", True)]
    # Once it finished, duplicates get its output.
    assert barrier.execute(KEY, slow) == (b"charged", False)
    assert runs == 1


def test_concurrent_duplicates_wait_for_the_first_and_all_get_its_output(db: Database) -> None:
    barrier = make_barrier(db, in_progress_wait_seconds=5)
    runs = 0
    go = threading.Barrier(20)

    def slow(_: ExecuteClaim) -> bytes:
        nonlocal runs
        runs += 1
        time.sleep(0.2)
        return f"output of run {runs}".encode()

    outputs: list[bytes] = []
    lock = threading.Lock()

    def call() -> None:
        go.wait()
        output, _ = barrier.execute(KEY, slow)
        with lock:
            outputs.append(output)

    threads = [threading.Thread(target=call) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert runs == 1
    assert outputs == [b"output of run 1"] * 20


def test_in_progress_wait_is_capped_by_the_call_deadline(db: Database) -> None:
    barrier = make_barrier(db, in_progress_wait_seconds=30)
    release = threading.Event()
    started = threading.Event()

    def slow(_: ExecuteClaim) -> bytes:
        started.set()
        release.wait(10)
        return b""

    holder = threading.Thread(target=lambda: barrier.execute(KEY, slow))
    holder.start()
    assert started.wait(5)
    began = time.monotonic()
    with pytest.raises(BarrierRefusal) as refused:
        barrier.execute(KEY, slow, CallLimits(deadline=time.time() + 0.3))
    assert refused.value.reason == "in-progress"
    assert time.monotonic() - began < 2
    # A cancelled call stops waiting at once.
    cancelled = threading.Event()
    threading.Timer(0.1, cancelled.set).start()
    with pytest.raises(CallCancelled):
        barrier.execute(KEY, slow, CallLimits(cancelled=cancelled))
    release.set()
    holder.join(5)


def _race_round(barriers: list[Barrier], key: str, rng: random.Random) -> tuple[Counter, list[str]]:
    """8 threads at once: every third compensates, the others execute, alternating connections."""
    effects: Counter = Counter()
    outcomes: list[str] = []
    lock = threading.Lock()
    go = threading.Barrier(8)

    def execute_handler(_: ExecuteClaim) -> bytes:
        with lock:
            effects["executed"] += 1
        time.sleep(rng.random() * 0.005)
        return b"out"

    def compensate_handler(claim: CompensateClaim) -> None:
        assert claim.execute_output == b"out"
        with lock:
            effects["compensated"] += 1

    def worker(i: int) -> None:
        b = barriers[i % 2]
        go.wait()
        time.sleep(rng.random() * 0.003)
        try:
            if i % 3 == 0:
                result = b.compensate(key, compensate_handler)
            else:
                b.execute(key, execute_handler)
                result = "executed"
        except BarrierRefusal as refusal:
            result = refusal.reason
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    return effects, outcomes


def test_racing_executes_and_compensates_from_two_connections_keep_the_invariants(tmp_path: Path) -> None:
    """Two Database objects on one file, as two replicas of the participant would have.
    Whatever the interleaving: the effect is applied at most once, undone at most once,
    undone only if applied, and a null compensation means the effect never runs."""
    path = str(tmp_path / "barrier.sqlite3")
    dbs = [Database(path), Database(path)]
    barriers = [make_barrier(d, in_progress_wait_seconds=5) for d in dbs]
    rng = random.Random(7)
    seen: set[str] = set()
    try:
        for round_ in range(30):
            effects, outcomes = _race_round(barriers, f"race-{round_}/charge", rng)
            assert len(outcomes) == 8, outcomes
            seen.update(outcomes)
            assert effects["executed"] <= 1 and effects["compensated"] <= 1, (effects, outcomes)
            assert effects["compensated"] <= effects["executed"], (effects, outcomes)
            if "null-compensation" in outcomes:
                assert effects["executed"] == 0, (effects, outcomes)
                assert "executed" not in outcomes
            assert "in-progress" not in outcomes and "lease-lost" not in outcomes, outcomes
    finally:
        for d in dbs:
            d.close()
    # The rounds did race both ways.
    assert "executed" in seen and "compensated" in seen


def test_an_expired_claim_is_taken_over_by_the_next_execute(barrier: Barrier) -> None:
    # A claim left by a process that died mid-handler.
    past = time.time() - 1
    barrier.store.insert_if_absent(
        BarrierRecord(key=KEY, state=EXECUTING, version=1, owner="dead", lease_until=past, updated_at=past)
    )
    h = Handlers()
    assert barrier.execute(KEY, h.execute) == (h.output, True)
    assert h.executed == 1


def test_compensate_after_an_interrupted_execute_runs_with_outcome_interrupted(barrier: Barrier) -> None:
    past = time.time() - 1
    barrier.store.insert_if_absent(
        BarrierRecord(key=KEY, state=EXECUTING, version=1, owner="dead", lease_until=past, updated_at=past)
    )
    h = Handlers()
    assert barrier.compensate(KEY, h.compensate) == "compensated"
    assert h.compensate_claims[0].execute_outcome == "interrupted"
    assert h.compensate_claims[0].execute_output == b""


def test_a_live_claim_is_renewed_and_not_taken_over(db: Database) -> None:
    # The barrier's clock moves only when the test moves it, so the lease is 0.3 s long
    # however slow the machine is; renewals still run on their own thread every 0.1 s.
    now = [1_000.0]
    barrier = make_barrier(db, lease_seconds=0.3, in_progress_wait_seconds=0, clock=lambda: now[0])
    started = threading.Event()
    release = threading.Event()

    def slow(_: ExecuteClaim) -> bytes:
        started.set()
        assert release.wait(10)
        return b"done"

    result: list[object] = []
    holder = threading.Thread(target=lambda: result.append(barrier.execute(KEY, slow)))
    holder.start()
    assert started.wait(5)
    for _ in range(4):  # 0.8 s in all: more than two leases
        now[0] += 0.2
        # Wait for a renewal made at the new time (an observed condition, not a guessed delay).
        wait_for(lambda: lease_until(barrier) >= now[0] + 0.3)
        with pytest.raises(BarrierRefusal) as refused:
            barrier.execute(KEY, slow)
        assert refused.value.reason == "in-progress"
    release.set()
    holder.join(5)
    assert result == [(b"done", True)]


def lease_until(barrier: Barrier) -> float:
    record = barrier.get(KEY)
    return (record.lease_until or 0.0) if record else 0.0


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Polls `condition` until it holds; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_records_survive_a_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "barrier.sqlite3")
    first = Database(path)
    h = Handlers()
    make_barrier(first).execute(KEY, h.execute)
    make_barrier(first).compensate("saga-2/charge", h.compensate)
    first.close()

    second = Database(path)
    try:
        again = make_barrier(second)
        assert again.execute(KEY, lambda _: b"rerun") == (h.output, False)
        with pytest.raises(BarrierRefusal):
            again.execute("saga-2/charge", h.execute)
        assert h.executed == 1
    finally:
        second.close()
