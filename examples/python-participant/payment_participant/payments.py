"""The payment service: a `charge` step, compensated by a refund.

Charges are kept in a `charges` table of the same SQLite database as the barrier.
A charge's id is derived from its saga and step, and recording it is an
`INSERT ... ON CONFLICT DO NOTHING`: even if the barrier ever re-runs a handler
(a takeover after its process died mid-handler), a saga step is charged at most once.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from typing import Any

from .database import Database
from .effects import CONFORMANCE_EFFECTS_STEP, EffectCounter
from .errors import BusinessFailure
from .steps import CompensateContext, ExecuteContext, StepHandlers

#: Charges above this amount are declined with "insufficient funds".
MAX_AMOUNT = 1000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS charges (
  charge_id   TEXT PRIMARY KEY,
  saga_id     TEXT NOT NULL,
  step        TEXT NOT NULL,
  amount      REAL NOT NULL,
  status      TEXT NOT NULL,  -- charged | refunded
  charged_at  REAL NOT NULL,
  refunded_at REAL
);
"""


def charge_id_for(saga_id: str, step: str) -> str:
    """The charge id of a saga step: stable, so a re-run records the same charge."""
    return "ch_" + hashlib.sha256(f"{saga_id}/{step}".encode()).hexdigest()[:24]


class Ledger:
    """Charges and refunds, in SQLite."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.script(_SCHEMA)

    def charge(self, charge_id: str, saga_id: str, step: str, amount: float) -> bool:
        """Records a charge. False if that charge id was already recorded."""
        return (
            self.db.execute(
                "INSERT INTO charges (charge_id, saga_id, step, amount, status, charged_at) "
                "VALUES (?, ?, ?, ?, 'charged', ?) ON CONFLICT(charge_id) DO NOTHING",
                (charge_id, saga_id, step, amount, time.time()),
            )
            == 1
        )

    def refund(self, charge_id: str) -> bool:
        """Refunds a charge. False if there is no such charge or it was already refunded."""
        return (
            self.db.execute(
                "UPDATE charges SET status = 'refunded', refunded_at = ? "
                "WHERE charge_id = ? AND status = 'charged'",
                (time.time(), charge_id),
            )
            == 1
        )

    def get(self, charge_id: str) -> dict[str, Any] | None:
        row = self.db.query_one(
            "SELECT charge_id, saga_id, step, amount, status FROM charges WHERE charge_id = ?", (charge_id,)
        )
        if row is None:
            return None
        return dict(zip(("charge_id", "saga_id", "step", "amount", "status"), row, strict=True))


def _parse_charge(payload: bytes) -> tuple[float, bool]:
    """(amount, fail) from a payload such as {"amount": 10} or {"amount": 10, "fail": true}."""
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        # The same payload comes back on every retry: a business failure, not transient.
        raise BusinessFailure(f"payload is not valid JSON: {err}") from err
    if not isinstance(data, dict):
        raise BusinessFailure('payload must be a JSON object such as {"amount": 10}')
    amount = data.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not math.isfinite(amount):
        raise BusinessFailure('payload must have a numeric "amount", e.g. {"amount": 10}')
    if amount <= 0:
        raise BusinessFailure(f"amount must be positive, got {amount}")
    return amount, data.get("fail") is True


def _charge_id_from_output(output: bytes) -> str | None:
    try:
        data = json.loads(output.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    charge_id = data.get("charge_id") if isinstance(data, dict) else None
    return charge_id if isinstance(charge_id, str) and charge_id else None


def payment_steps(
    ledger: Ledger, effects: EffectCounter, *, latency_seconds: float = 0.0
) -> dict[str, StepHandlers]:
    """The participant's steps: `charge` (compensated by a refund) and `conformance.effects`."""

    def charge(ctx: ExecuteContext) -> bytes:
        amount, fail = _parse_charge(ctx.payload)
        if latency_seconds > 0:
            ctx.sleep(latency_seconds)  # simulated call to a payment provider
        if fail or amount > MAX_AMOUNT:
            ctx.logger.info("declined: amount %s, fail %s", amount, fail)
            raise BusinessFailure("insufficient funds")
        ctx.check_cancelled()
        charge_id = charge_id_for(ctx.saga_id, ctx.step)
        if ledger.charge(charge_id, ctx.saga_id, ctx.step, amount):
            effects.executed(ctx.saga_id, ctx.step)
            ctx.logger.info("charged %s: %s", charge_id, amount)
        else:
            ctx.logger.warning("charge %s was already recorded (re-run after an interrupted call)", charge_id)
        return json.dumps({"charge_id": charge_id, "amount": amount}, separators=(",", ":")).encode()

    def refund(ctx: CompensateContext) -> None:
        charge_id = _charge_id_from_output(ctx.execute_output)
        if charge_id is None:
            # Only when the Execute was interrupted (no output recorded): its charge, if it
            # got as far as recording one, has the id derived from the saga step.
            charge_id = charge_id_for(ctx.saga_id, ctx.step)
        if ledger.refund(charge_id):
            effects.compensated(ctx.saga_id, ctx.step)
            ctx.logger.info("refunded %s (%s)", charge_id, ctx.reason)
        else:
            ctx.logger.info("nothing to refund for %s (%s)", charge_id, ctx.execute_outcome)

    def effects_query(ctx: ExecuteContext) -> bytes:
        return effects.answer_query(ctx.payload)

    def no_op(ctx: CompensateContext) -> None:
        # Reading counts has no effect to undo.
        return None

    return {
        "charge": StepHandlers(execute=charge, compensate=refund),
        CONFORMANCE_EFFECTS_STEP: StepHandlers(execute=effects_query, compensate=no_op, barrier=False),
    }
