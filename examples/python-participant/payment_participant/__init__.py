"""An example saga participant in Python: a "payment" service with a `charge` step
(compensated by a refund), an idempotency barrier on SQLite, and the
`conformance.effects` step of the saga-conformance kit."""

__all__ = ["__version__"]
__version__ = "0.1.0"
