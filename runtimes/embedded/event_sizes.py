"""The JSON sizes of the turn events' data, by arithmetic (decision 0256).

Every event the log keeps carries its JSON size (decision 0080). The input and
output events quote their text, whose size the store measures once; the
turn events carry a small dict of the runtime's own making, which the log
would otherwise walk with :func:`~registry_core.page_bytes.json_size` at every
turn start and end. These functions answer exactly what ``json_size`` answers
for those dicts, from the few values that vary (the turn number, the usage,
the stop reason), and fall back to ``json_size`` for any other shape, so a
size never depends on which path measured it.
"""

from __future__ import annotations

from collections.abc import Mapping

from registry_core.engines import STOP_REASONS
from registry_core.page_bytes import json_size, text_size

__all__ = ["turn_completed_data_size", "turn_started_data_size"]

# json_size measures an int below 10**18 by its digits; larger ones take its general rule.
_DIGITS_BELOW = 10**18
# The fixed part of each shape: json_size of the shape with the varying values
# at their smallest (turn 0, one digit; an empty stop reason, two bytes; no usage).
_STARTED_BYTES = json_size({"turn": 0}) - 1
_COMPLETED_BYTES = json_size({"turn": 0, "usage": None, "stop_reason": ""}) - 1 - 2 - json_size(None)
_NO_USAGE_BYTES = json_size(None)
# The stop reasons a TurnResult may carry (its validator says which): measured once.
_STOP_REASON_BYTES = {reason: text_size(reason) for reason in STOP_REASONS}


def turn_started_data_size(turn: int) -> int:
    """``json_size({"turn": turn})``, the data of ``worker.turn_started``."""
    if type(turn) is int and 0 <= turn < _DIGITS_BELOW:
        return _STARTED_BYTES + len(str(turn))
    return json_size({"turn": turn})


def turn_completed_data_size(data: Mapping[str, object]) -> int:
    """``json_size(data)`` for the data of ``worker.turn_completed`` (``turn``, ``usage``, ``stop_reason``).

    Any other shape (another key, a value of another type) is measured by ``json_size`` itself.
    """
    if type(data) is dict and len(data) == 3:
        turn = data.get("turn")
        stop = data.get("stop_reason")
        stop_bytes = _STOP_REASON_BYTES.get(stop) if type(stop) is str else None
        if stop_bytes is not None and type(turn) is int and 0 <= turn < _DIGITS_BELOW and "usage" in data:
            usage = data["usage"]
            usage_bytes = _NO_USAGE_BYTES if usage is None else json_size(usage)
            return _COMPLETED_BYTES + len(str(turn)) + usage_bytes + stop_bytes
    return json_size(data)
