"""Events older than the in-memory window, read from the SQLite file page by page (issue 23).

The event log in memory keeps the newest ``events_in_memory`` events; the
file keeps ``event_retention``. A cursor that falls between the two is read
here, in the store's reader thread, so a long retention costs disk and not
resident memory. Pages follow :meth:`registry_core.blocks.EventLog.read`:
at most ``limit`` events, cut by JSON bytes (at least one), oldest first.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

from registry_core.blocks.event_log import EVENT_ENVELOPE_BYTES
from registry_core.models import Event

__all__ = ["read_older_events"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def read_older_events(
    connection: sqlite3.Connection,
    *,
    after: int,
    before: int,
    limit: int,
    worker_id: str | None,
    max_bytes: int | None,
) -> tuple[list[Event], bool]:
    """Events with ``after < id < before`` (one worker's with ``worker_id``), and whether the page was cut short.

    A page is cut short by ``limit`` or by ``max_bytes``; rows are read one by
    one and the read stops at the bound, so a page never reads far past it.
    """
    if worker_id is None:
        rows = connection.execute(
            "SELECT id, type, worker_id, data, created_us FROM events WHERE id > ? AND id < ? ORDER BY id LIMIT ?",
            (after, before, limit + 1),
        )
    else:
        rows = connection.execute(
            "SELECT id, type, worker_id, data, created_us FROM events"
            " WHERE worker_id = ? AND id > ? AND id < ? ORDER BY id LIMIT ?",
            (worker_id, after, before, limit + 1),
        )
    events: list[Event] = []
    budget = max_bytes
    try:
        for id_, type_, owner, data, created in rows:
            if len(events) == limit:
                return events, True
            if budget is not None:
                budget -= EVENT_ENVELOPE_BYTES + len(type_) + len(owner or "") + len(data.encode())
                if budget < 0 and events:
                    return events, True
            events.append(Event(id_, type_, owner, json.loads(data), _EPOCH + timedelta(microseconds=created)))
    finally:
        rows.close()
    return events, False
