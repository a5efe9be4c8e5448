"""The payment steps and the effect counter, without gRPC."""

from __future__ import annotations

import json
import logging

import pytest

from payment_participant.database import Database
from payment_participant.effects import EffectCounter
from payment_participant.errors import BusinessFailure
from payment_participant.payments import Ledger, charge_id_for, payment_steps
from payment_participant.steps import CompensateContext, ExecuteContext

LOG = logging.LoggerAdapter(logging.getLogger("test"), {})


def ctx(cls, payload: object, saga: str = "s1", **kw):
    return cls(
        saga_id=saga,
        saga_type="checkout",
        step="charge",
        idempotency_key=f"{saga}/charge/x",
        attempt=1,
        payload=json.dumps(payload).encode(),
        content_type="application/json",
        logger=LOG,
        **kw,
    )


@pytest.fixture
def setup():
    db = Database(":memory:")
    ledger, effects = Ledger(db), EffectCounter()
    yield ledger, effects, payment_steps(ledger, effects)
    db.close()


def test_charge_id_is_stable_per_saga_step() -> None:
    assert charge_id_for("s1", "charge") == charge_id_for("s1", "charge")
    assert charge_id_for("s1", "charge") != charge_id_for("s2", "charge")
    assert charge_id_for("s1", "charge").startswith("ch_")


def test_a_rerun_of_charge_records_one_charge(setup) -> None:
    ledger, effects, steps = setup
    out1 = steps["charge"].execute(ctx(ExecuteContext, {"amount": 9.5}))
    out2 = steps["charge"].execute(ctx(ExecuteContext, {"amount": 9.5}))
    assert out1 == out2
    assert json.loads(out1) == {"charge_id": charge_id_for("s1", "charge"), "amount": 9.5}
    assert effects.counts_for("s1/charge/execute") == {"executed": 1, "compensated": 0}


def test_refund_uses_the_execute_output_and_falls_back_to_the_derived_id(setup) -> None:
    ledger, effects, steps = setup
    out = steps["charge"].execute(ctx(ExecuteContext, {"amount": 1}))
    steps["charge"].compensate(ctx(CompensateContext, {"amount": 1}, execute_output=out))
    assert ledger.get(json.loads(out)["charge_id"])["status"] == "refunded"
    # An interrupted Execute: no output, the charge found by its derived id (if it exists).
    steps["charge"].execute(ctx(ExecuteContext, {"amount": 1}, saga="s2"))
    steps["charge"].compensate(
        ctx(CompensateContext, {"amount": 1}, saga="s2", execute_outcome="interrupted")
    )
    assert ledger.get(charge_id_for("s2", "charge"))["status"] == "refunded"
    steps["charge"].compensate(
        ctx(CompensateContext, {"amount": 1}, saga="s3", execute_outcome="interrupted")
    )
    assert effects.counts_for("s1/charge/execute") == {"executed": 1, "compensated": 1}
    assert effects.counts_for("s3/charge/execute") == {"executed": 0, "compensated": 0}


def test_declines_above_the_limit_or_on_request(setup) -> None:
    _, effects, steps = setup
    for payload in ({"amount": 1000.01}, {"amount": 1, "fail": True}):
        with pytest.raises(BusinessFailure, match="^insufficient funds$"):
            steps["charge"].execute(ctx(ExecuteContext, payload))
    assert effects.counts_for("s1/charge/execute") == {"executed": 0, "compensated": 0}


def test_effect_counter_answers_queries() -> None:
    effects = EffectCounter()
    effects.executed("s1", "charge")
    effects.executed("s1", "charge")
    effects.compensated("s1", "charge")
    answer = effects.answer_query(b'{"idempotency_key":"s1/charge/execute"}')
    assert json.loads(answer) == {"executed": 2, "compensated": 1}
    assert json.loads(effects.answer_query(b'{"idempotency_key":"s9/charge/execute"}')) == {
        "executed": 0,
        "compensated": 0,
    }
    with pytest.raises(BusinessFailure, match="<saga_id>/<step>/execute"):
        effects.answer_query(b'{"idempotency_key":"s1/charge/compensate"}')
