"""``clock``: a harmless builtin tool, so tools can be tried without writing one."""

from __future__ import annotations

from datetime import datetime, timezone

from registry_core.tools import WorkerTool

__all__ = ["CLOCK", "current_time"]


async def current_time(utc_offset_minutes: int = 0) -> str:
    """The current date and time, ISO 8601, at ``utc_offset_minutes`` from UTC (-1440..1440)."""
    from datetime import timedelta

    if (
        isinstance(utc_offset_minutes, bool)
        or not isinstance(utc_offset_minutes, int)
        or not -1440 < utc_offset_minutes < 1440
    ):
        raise ValueError("utc_offset_minutes must be an integer between -1439 and 1439")
    zone = timezone(timedelta(minutes=utc_offset_minutes))
    return datetime.now(zone).isoformat(timespec="seconds")


#: The ``clock`` tool: tells the model the current date and time.
CLOCK = WorkerTool(
    name="clock",
    description="The current date and time (ISO 8601). Optionally at an offset from UTC in minutes.",
    input_schema={
        "type": "object",
        "properties": {"utc_offset_minutes": {"type": "integer", "minimum": -1439, "maximum": 1439}},
        "additionalProperties": False,
    },
    function=current_time,
    timeout_seconds=1.0,
)
