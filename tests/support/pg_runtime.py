"""Runtimes on a real PostgreSQL for the store's tests: workers made through a replica, runtimes
written as an older schema version made them (for migration tests with data), and a check of a
worker's turns in a feed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from registry_core.event_contract import TURN_ENDS, WORKER_TURN_STARTED
from registry_core.models import Event, Intent, IntentKind
from runtime_registry.runtimes.embedded import postgres_schema
from runtime_registry.runtimes.embedded.postgres_store import PgStore

__all__ = ["create_worker", "never_overlap", "old_runtime"]


async def create_worker(store: PgStore, max_workers: int = 100) -> str:
    """A new echo worker through ``store`` (ids as a runtime makes them); its id."""
    worker, _ = await store.create_worker(
        make_id=lambda serial: f"w-{serial:013x}abcd1234",
        label=None,
        intent=Intent(IntentKind.ASSISTANT),
        profile="builtin:echo",
        tools=(),
        created_at=datetime.now(UTC),
        max_workers=max_workers,
        event_data={"profile": "builtin:echo", "intent": "assistant"},
    )
    return worker.worker_id


async def old_runtime(
    connection: Any, monkeypatch: pytest.MonkeyPatch, schema: str, *, version: int, profile: str, workers: int = 2
) -> None:
    """Make ``schema`` as the code of schema ``version`` would: idle workers ``w-1`` … ``w-<workers>`` of
    ``profile``, and a live replica ``old`` to decide with that version's own functions.

    The connection's ``search_path`` is left on ``schema``; ``postgres_schema.SCHEMA_VERSION`` is
    ``version`` until ``monkeypatch.undo()``.
    """
    monkeypatch.setattr(postgres_schema, "SCHEMA_VERSION", version)
    assert await postgres_schema.migrate(connection, schema, first_serial=1, first_event_id=1, cursor_tag="t") == 0
    await connection.execute(f'SET search_path TO "{schema}"')
    await connection.execute(
        "INSERT INTO replicas (replica_id, expires_at) VALUES ('old', clock_timestamp() + interval '1 hour')"
    )
    for serial in range(1, workers + 1):
        await connection.execute(
            "INSERT INTO workers (serial, worker_id, intent, profile, created_at, status) "
            "VALUES ($1, $2, '{\"kind\": \"assistant\"}', $3, clock_timestamp(), 'idle')",
            serial,
            f"w-{serial}",
            profile,
        )
    await connection.execute("UPDATE counters SET value = $1 WHERE name = 'workers'", workers)
    await connection.execute("UPDATE counters SET value = $1 WHERE name = 'serial'", workers + 1)


def never_overlap(events: Sequence[Event], worker_id: str) -> list[int]:
    """The worker's turns in the feed's order, each ended before the next started: their numbers."""
    running: int | None = None
    started: list[int] = []
    for event in events:
        if event.worker_id != worker_id:
            continue
        if event.type == WORKER_TURN_STARTED:
            assert running is None, f"turn {event.data['turn']} started while turn {running} ran"
            running = int(event.data["turn"])
            started.append(running)
        elif event.type in TURN_ENDS:
            assert running == event.data["turn"]
            running = None
    return started
