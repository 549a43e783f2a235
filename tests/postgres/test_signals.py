"""Signals between replicas over LISTEN/NOTIFY: wake-ups and live deltas, against a real server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest

from runtime_registry.runtimes.embedded.postgres_signals import MAX_PAYLOAD_BYTES, PgSignals, delta_pieces
from runtime_registry.runtimes.embedded.postgres_store import connect_kwargs
from tests.support.pg_server import PgServer


class Inbox:
    def __init__(self) -> None:
        self.events = 0
        self.newest: list[int | None] = []
        self.deltas: list[tuple[str, int, str]] = []
        self.changed = asyncio.Event()

    def on_events(self, newest: int | None) -> None:
        self.events += 1
        self.newest.append(newest)
        self.changed.set()

    def on_delta(self, worker_id: str, turn: int, text: str) -> None:
        self.deltas.append((worker_id, turn, text))
        self.changed.set()

    async def until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
async def pair(pg_dsn: str) -> AsyncIterator[tuple[PgSignals, Inbox, PgSignals, Inbox]]:
    made = []
    for replica in ("replica-a", "replica-b"):
        inbox = Inbox()
        signals = PgSignals(
            lambda: asyncpg.connect(**connect_kwargs(pg_dsn)),
            "rr_test_channel",
            replica,
            on_events=inbox.on_events,
            on_delta=inbox.on_delta,
        )
        signals.start()
        await asyncio.wait_for(signals.listening.wait(), 10)
        made += [signals, inbox]
    yield made[0], made[1], made[2], made[3]  # type: ignore[misc]
    for signals in made[0::2]:
        await signals.close()  # type: ignore[union-attr]


async def test_deltas_arrive_in_order_joined_and_not_echoed_to_their_sender(pair: Any) -> None:
    a, inbox_a, _, inbox_b = pair
    texts = [f"piece {n} " for n in range(50)] + ["é" * 9000 + "€" * 5000 + '\n"quoted"' * 500]
    for text in texts:
        a.send_delta("w-2", 1, text)
    await inbox_b.until(lambda: len(inbox_b.deltas) == len(texts))
    assert [d[2] for d in inbox_b.deltas] == texts
    assert inbox_a.deltas == []


def test_delta_pieces_stay_under_the_payload_limit_and_join_back() -> None:
    text = "a" * 10 + "😀" * 3000 + "\\" * 7000 + "é" * 4000
    pieces = list(delta_pieces(text))
    assert "".join(pieces) == text and len(pieces) > 3
    for piece in pieces:
        envelope = {"k": "d", "r": "f" * 16, "w": "w-" + "f" * 21, "t": 2**31, "x": piece, "m": True}
        assert len(json.dumps(envelope, ensure_ascii=False).encode()) < MAX_PAYLOAD_BYTES


async def test_the_listener_comes_back_after_the_database_restarts(pg_server: PgServer, pair: Any) -> None:
    a, _, b, inbox_b = pair
    pg_server.stop()
    try:
        await asyncio.sleep(0.5)
    finally:
        pg_server.start()
    async with asyncio.timeout(15):
        while not (a.listening.is_set() and b.listening.is_set()):
            await asyncio.sleep(0.1)
    woken = inbox_b.events
    assert woken >= 2  # at its first start and again after the restart: nothing committed meanwhile is missed
    a.send_delta("w-3", 1, "after the restart")
    await inbox_b.until(lambda: any(d[0] == "w-3" for d in inbox_b.deltas), timeout=10)


async def test_a_batchs_wake_up_is_not_sent_back_to_the_replica_it_answered(pair: Any, pg_dsn: str) -> None:
    """``e<id> <replica>`` (a ``decide()`` batch's commit, decision 0236) wakes every replica but the one
    that decided it (its answer brings those events); ``e<id>`` alone wakes them all."""
    _, inbox_a, _, inbox_b = pair
    connection = await asyncpg.connect(**connect_kwargs(pg_dsn))
    try:
        await connection.execute("SELECT pg_notify('rr_test_channel', 'e41 replica-a')")
        await connection.execute("SELECT pg_notify('rr_test_channel', 'e42')")
    finally:
        await connection.close()
    # (Each was also woken with no id when it began to listen.)
    await inbox_b.until(lambda: _named(inbox_b) == [41, 42])
    await inbox_a.until(lambda: _named(inbox_a) == [42])
    await asyncio.sleep(0.2)
    assert _named(inbox_a) == [42]


def _named(inbox: Inbox) -> list[int]:
    return [newest for newest in inbox.newest if newest is not None]
