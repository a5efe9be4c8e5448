"""Effect counting for the saga-conformance kit (participant-sdk/README.md,
"Effect-count step").

Handlers call `executed(saga_id, step)` / `compensated(saga_id, step)` where they
apply and undo their effect, never per call: barrier replays, null
compensations, refused (ABORTED) Executes and business failures count nothing.
The reserved step `conformance.effects` answers an Execute whose JSON payload is
{"idempotency_key": "<saga_id>/<step>/execute"} with
{"executed": n, "compensated": m}. Counts live in memory: since the process started.
"""

from __future__ import annotations

import json
import threading

from .errors import BusinessFailure

CONFORMANCE_EFFECTS_STEP = "conformance.effects"
_EXECUTE_SUFFIX = "/execute"


class EffectCounter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, int]] = {}

    def executed(self, saga_id: str, step: str) -> None:
        self._add(saga_id, step, "executed")

    def compensated(self, saga_id: str, step: str) -> None:
        self._add(saga_id, step, "compensated")

    def counts_for(self, execute_key: str) -> dict[str, int]:
        """Counts of the step whose Execute key is "<saga_id>/<step>/execute" (zeros if never seen)."""
        if not execute_key.endswith(_EXECUTE_SUFFIX):
            raise BusinessFailure(f'idempotency_key must be "<saga_id>/<step>/execute", got "{execute_key}"')
        with self._lock:
            entry = self._counts.get(execute_key[: -len(_EXECUTE_SUFFIX)], {})
            return {"executed": entry.get("executed", 0), "compensated": entry.get("compensated", 0)}

    def answer_query(self, payload: bytes) -> bytes:
        """The Execute of `conformance.effects`: payload in, counts out (both UTF-8 JSON)."""
        try:
            query = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise BusinessFailure(f"payload is not valid JSON: {err}") from err
        key = query.get("idempotency_key") if isinstance(query, dict) else None
        if not isinstance(key, str):
            raise BusinessFailure('payload must be JSON {"idempotency_key": "<saga_id>/<step>/execute"}')
        return json.dumps(self.counts_for(key), separators=(",", ":")).encode("utf-8")

    def _add(self, saga_id: str, step: str, what: str) -> None:
        with self._lock:
            entry = self._counts.setdefault(f"{saga_id}/{step}", {"executed": 0, "compensated": 0})
            entry[what] += 1
