"""The SQLite writer's round per group (decision 0193): fewer statements, no measure before the answer.

- An ``acknowledged`` answer goes out when its commit is reported; the
  writer measures the file (``max_store_bytes``) after reporting, and until
  that measure the store still counts the group as queued.
- A group of up to 64 rows per table is one statement per table.
- Events beyond retention are deleted a batch at a time, not by every
  commit; readers never see them, before or after a restart.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest

from registry_core.errors import CursorExpired
from runtime_registry.runtimes.embedded import sqlite_writer
from runtime_registry.runtimes.embedded.settings import Durability
from tests.embedded.durable import all_events, create, durable_settings, send, started, store_file, until_idle


def file_bytes_in_use(path) -> int:
    with sqlite3.connect(path) as connection:
        return sqlite_writer.used_bytes(connection)


async def until_measured(store, path) -> None:
    """Until the writer's last measure covers every commit (the store's bytes are the file's own)."""
    async with asyncio.timeout(10):
        while store.byte_usage()[0] != file_bytes_in_use(path):
            await asyncio.sleep(0.01)


def traced(provider) -> list[str]:
    """The statements the store's writer runs from now on (in its thread; appended as they run)."""
    statements: list[str] = []
    provider.runtime.store._writer._connection.set_trace_callback(statements.append)
    return statements


async def test_an_acknowledged_answer_does_not_wait_for_the_measure_of_the_file(tmp_path, monkeypatch):
    provider = await started(tmp_path, durable_settings(Durability.ACKNOWLEDGED))
    store = provider.runtime.store
    worker_id = await create(provider, "echo-now")
    await until_idle(provider, worker_id)
    path = store_file(tmp_path)
    # The turn's last commit is reported before it is measured: its measure is done first.
    await until_measured(store, path)
    before = store.byte_usage()[0]
    release = threading.Event()
    measuring = threading.Event()
    measure = sqlite_writer.used_bytes

    def held_measure(connection: sqlite3.Connection) -> int:
        measuring.set()
        release.wait(30)
        return measure(connection)

    monkeypatch.setattr(sqlite_writer, "used_bytes", held_measure)
    try:
        # Committed and answered while the writer's measure of that commit is held.
        event_id = await asyncio.wait_for(send(provider, worker_id, "answered before the measure"), 20)
        assert event_id
        # The writer reports the commit, then measures: the answer may come before the measure starts.
        assert await asyncio.to_thread(measuring.wait, 20)
        # Not yet measured: the store counts the input as queued, never as nowhere.
        assert store.byte_usage()[0] > before
    finally:
        release.set()
    monkeypatch.setattr(sqlite_writer, "used_bytes", measure)
    await until_idle(provider, worker_id)
    await until_measured(store, path)
    await provider.close()


@pytest.mark.parametrize("durability", list(Durability))
async def test_a_group_of_a_dozen_inputs_is_one_insert_per_table(tmp_path, durability):
    provider = await started(tmp_path, durable_settings(durability, max_workers=20))
    workers = [await create(provider, "echo-now") for _ in range(12)]
    for worker_id in workers:
        await until_idle(provider, worker_id)
    statements = traced(provider)
    # Sent in one loop step: one batch, one group of 12 entries.
    await asyncio.gather(*(send(provider, worker_id, f"input {n}") for n, worker_id in enumerate(workers)))
    for worker_id in workers:
        await until_idle(provider, worker_id)
    await provider.close()
    # Per transaction, the rows of each INSERT INTO entries and INSERT INTO events (12 inputs and
    # 12 replies; four events each: accepted, started, output, completed; batched mode may still
    # hold the workers' creation events too).
    for table, rows in (("entries", range(24, 25)), ("events", range(48, 61))):
        groups: list[list[int]] = []
        for statement in statements:
            if statement.startswith("BEGIN"):
                groups.append([])
            elif statement.startswith(f"INSERT INTO {table} "):
                groups[-1].append(statement.count("),(") + 1)
        assert sum(map(sum, groups)) in rows, (table, groups)
        assert all(len(inserts) <= 1 for inserts in groups), (table, groups)  # not 16 + 8, or 32 + 16


async def test_events_beyond_retention_are_deleted_a_batch_at_a_time_and_never_read(tmp_path):
    retention = 320  # deleted once retention // PRUNE_FRACTION (5) have gathered
    step = retention // sqlite_writer.PRUNE_FRACTION
    settings = durable_settings(Durability.ACKNOWLEDGED, event_retention=retention, events_in_memory=8)
    provider = await started(tmp_path, settings)
    workers = [await create(provider, "echo-now") for _ in range(3)]
    statements = traced(provider)
    commits_before = provider.runtime.store._writer.commits
    first = provider.runtime.events.last_id
    for number in range(40):
        for worker_id in workers:
            await send(provider, worker_id, f"input {number}")
            await until_idle(provider, worker_id)
    commits = provider.runtime.store._writer.commits - commits_before
    last = provider.runtime.events.last_id
    deletes = sum(statement.startswith("DELETE FROM events") for statement in statements)
    # A delete waits for `step` more events; deleting at each commit (a handful of events each,
    # however the commits happen to group them) would be one delete per commit.
    assert 0 < deletes <= (last - first) // step + 1, (deletes, last - first, step)
    assert deletes < commits, (deletes, commits)

    with sqlite3.connect(store_file(tmp_path)) as connection:
        in_file = connection.execute("SELECT COUNT(*), MIN(id), MAX(id) FROM events").fetchone()
    assert in_file[2] == last
    assert retention <= in_file[0] < retention + step

    for reader in (provider, None):
        if reader is None:
            await provider.close()
            reader = await started(tmp_path, settings)
        events, end = await all_events(reader)
        ids = [event.id for event in events]
        assert ids == list(range(last - retention + 1, last + 1)) and end == last
        with pytest.raises(CursorExpired):
            await reader.read_events(cursor=last - retention - 1, limit=10)
        if in_file[1] < last - retention:  # the file still holds older events: never read
            with pytest.raises(CursorExpired):
                await reader.read_events(cursor=in_file[1], limit=10)
    await reader.close()
