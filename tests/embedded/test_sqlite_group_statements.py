"""The SQLite writer commits a group's rows in multi-row statements (decision 0192).

A group bigger than one statement's chunk (256 rows), of a size that is no
power of two, must reach the file whole, row for row, with each worker's
last state — on SQLite builds with ``UPDATE ... FROM`` and on older ones
(states written row by row).
"""

from __future__ import annotations

import asyncio

import pytest

from runtime_registry.runtimes.embedded import sqlite_writer
from runtime_registry.runtimes.embedded.settings import Durability
from tests.embedded.durable import all_events, create, durable_settings, send, started, transcript, until_idle

WORKERS = 300  # 256 + 44 rows per table in one group (a power-of-two chunk, then an exact size)


@pytest.mark.parametrize("update_from", [True, False], ids=["update-from", "row-by-row"])
@pytest.mark.parametrize("durability", list(Durability))
async def test_a_group_of_hundreds_of_rows_reaches_the_file_whole(tmp_path, monkeypatch, durability, update_from):
    monkeypatch.setattr(sqlite_writer, "_UPDATE_FROM", update_from)
    settings = durable_settings(durability, max_workers=WORKERS + 10)
    provider = await started(tmp_path, settings)
    # Created in one loop step: one batch, one group.
    workers = await asyncio.gather(*(create(provider, "echo-now", label=f"w{n}") for n in range(WORKERS)))
    await asyncio.gather(*(send(provider, worker, f"input {n} ✓") for n, worker in enumerate(workers)))
    for worker in workers:
        await until_idle(provider, worker)
    # A second turn for some: their state rows are updated again, in a later group.
    await asyncio.gather(*(send(provider, worker, "again") for worker in workers[::7]))
    for worker in workers[::7]:
        await until_idle(provider, worker)
    events, _ = await all_events(provider)
    await provider.close()

    reopened = await started(tmp_path, settings)
    try:
        assert [event.id for event in (await all_events(reopened))[0]] == [event.id for event in events]
        for n, worker in enumerate(workers):
            record = await reopened.get_worker(worker)
            turns = 2 if n % 7 == 0 else 1
            assert record.status == "idle" and record.label == f"w{n}"
            assert record.transcript_length == 2 * turns
            assert record.totals is not None and record.totals.turns == turns
            contents = [entry.content for entry in await transcript(reopened, worker)]
            assert contents[:2] == [f"input {n} ✓"] * 2
            assert contents[2:] == (["again"] * 2 if turns == 2 else [])
    finally:
        await reopened.close()
