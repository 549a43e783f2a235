"""A worker's totals (turns, input and output tokens), kept from its turn-ending events (decision 0201).

Every store keeps them the same way: from the events it commits, never from
a turn's own bookkeeping, so every path that ends a turn — completed, failed,
cancelled, interrupted, by whichever replica — counts, once, in the same
transaction or batch as its event. A PostgreSQL replica's cache replays the
same rule over the committed feed, so every replica shows the same totals.
"""

from __future__ import annotations

from collections.abc import Mapping

from registry_core.event_contract import TURN_ENDS, WORKER_TURN_COMPLETED
from registry_core.models import WorkerTotals

__all__ = ["NO_TOTALS", "TURN_ENDS", "totals_delta", "with_event"]

# TURN_ENDS (the plugin API's): the events that end a turn; each counts one turn.

#: A new worker's totals.
NO_TOTALS = WorkerTotals()


def totals_delta(event_type: str, data: Mapping[str, object]) -> tuple[int, int, int] | None:
    """What one event adds to its worker's ``(turns, input_tokens, output_tokens)``; ``None``: nothing.

    Tokens come from ``worker.turn_completed``'s ``usage`` only; a count that
    is not a non-negative integer (an engine's bug, or none reported) adds 0.
    """
    if event_type not in TURN_ENDS:
        return None
    if event_type != WORKER_TURN_COMPLETED:
        return 1, 0, 0
    usage = data.get("usage")
    # ``None`` (no usage reported: the builtin engines) before the ABC check, which costs more.
    if usage is None or not isinstance(usage, Mapping):
        return 1, 0, 0
    return 1, _count(usage.get("input_tokens")), _count(usage.get("output_tokens"))


def with_event(totals: WorkerTotals, event_type: str, data: Mapping[str, object]) -> WorkerTotals:
    """``totals`` after one of the worker's events (the same object when the event adds nothing)."""
    delta = totals_delta(event_type, data)
    if delta is None:
        return totals
    turns, input_tokens, output_tokens = delta
    return WorkerTotals(totals.turns + turns, totals.input_tokens + input_tokens, totals.output_tokens + output_tokens)


def _count(value: object) -> int:
    return value if type(value) is int and value >= 0 else 0
