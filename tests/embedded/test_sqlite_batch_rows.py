"""A sealed batch keeps its new rows flat (decision 0196): no object per row lives until the commit.

In ``batched`` mode a batch waits up to an interval (50 ms) for its commit,
so hundreds of inputs' rows are alive at once; as tuples, each survived the
garbage collector's young generation and was walked again by every
collection until the commit. Flat, a batch is a few lists of values (as the
multi-row statements bind them) and one dict of transcripts. The rows still
reach the file exactly: every value, in order, read back after a restart.
"""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from runtime_registry.runtimes.embedded.settings import Durability
from tests.embedded.durable import create, durable_settings, send, started, store_file, transcript, until_idle

INPUTS = 12


@pytest.mark.parametrize("durability", list(Durability))
async def test_a_batch_holds_flat_values_and_the_file_gets_every_row(tmp_path, durability):
    provider = await started(tmp_path, durable_settings(durability, max_workers=20))
    workers = [await create(provider, "echo-now") for _ in range(INPUTS)]
    for worker_id in workers:
        await until_idle(provider, worker_id)
    store = provider.runtime.store
    writer = store._writer
    submitted = []
    submit = writer.submit

    def keep(batch):
        submitted.append(batch)
        submit(batch)

    writer.submit = keep
    # Sent in one loop step: one batch holds the twelve inputs.
    await asyncio.gather(*(send(provider, worker_id, f"input {n}") for n, worker_id in enumerate(workers)))
    for worker_id in workers:
        await until_idle(provider, worker_id)
    await asyncio.sleep(0.01)  # the step that ended the last turn has sealed its batch
    entries = [value for batch in submitted for value in batch.entries]
    events = [value for batch in submitted for value in batch.events]
    assert not any(isinstance(value, tuple) for value in entries + events)  # no object per row
    assert all(isinstance(batch.transcripts, dict) for batch in submitted)  # one per transcript, not per entry
    assert len(entries) == 6 * 2 * INPUTS  # six columns; each input and its reply
    assert len(events) % 5 == 0
    event_ids = events[0::5]
    assert event_ids == sorted(event_ids) and len(set(event_ids)) == len(event_ids)
    data_dir = tmp_path
    await provider.close()

    # Every queued value is in the file, row for row.
    connection = sqlite3.connect(store_file(data_dir))
    try:
        rows = connection.execute(
            f"SELECT id, type, worker_id, data, created_us FROM events WHERE id IN ({','.join('?' * len(event_ids))})"
            " ORDER BY id",
            event_ids,
        ).fetchall()
        written = connection.execute(
            "SELECT serial, sequence, role, content, event_id, created_us FROM entries ORDER BY event_id"
        ).fetchall()
    finally:
        connection.close()
    assert [value for row in rows for value in row] == events
    queued = [tuple(entries[start : start + 6]) for start in range(0, len(entries), 6)]
    assert sorted(written, key=lambda row: row[4]) == sorted(queued, key=lambda row: row[4])

    # And the transcripts read back as they were answered, after a restart.
    provider = await started(tmp_path, durable_settings(durability, max_workers=20))
    for n, worker_id in enumerate(workers):
        page = await transcript(provider, worker_id)
        assert [entry.content for entry in page][:1] == [f"input {n}"]
        assert len(page) == 2
    await provider.close()
