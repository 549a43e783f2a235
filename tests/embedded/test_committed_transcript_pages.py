"""In ``acknowledged`` mode a transcript page shows only committed entries (decision 0111).

Readers see committed events, the committed status and ``transcript_length``;
the page of entries now follows the same rule, so a page and the worker it
belongs to never disagree, and nothing a crash could take back is shown.
"""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from registry_core import InputRequest
from registry_core.errors import RuntimeUnavailable
from runtime_registry.runtimes.embedded import sqlite_store
from runtime_registry.runtimes.embedded.settings import Durability
from tests.embedded.durable import create, durable_settings, started, store_file, transcript


async def test_an_entry_waiting_for_its_commit_is_not_on_a_page_until_it_is_committed(tmp_path):
    provider = await started(tmp_path, durable_settings(Durability.ACKNOWLEDGED))
    worker_id = await create(provider, "echo-now")
    # Another connection holds the file's write lock: the writer's next commit waits for it.
    holder = sqlite3.connect(store_file(tmp_path), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        sending = asyncio.create_task(provider.send_input(worker_id, InputRequest("held back")))
        await asyncio.sleep(0.3)
        assert not sending.done()  # acknowledged: the answer waits for the commit
        page = await provider.read_transcript(worker_id, start=1, limit=10)
        worker = await provider.get_worker(worker_id)
        assert page.items == () and page.total == 0 == worker.transcript_length
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    accepted = await sending
    assert accepted.event_id
    entries = await transcript(provider, worker_id)
    assert entries and entries[0].content == "held back"
    page = await provider.read_transcript(worker_id, start=1, limit=10)
    assert page.total == len(page.items) >= 1
    await provider.close()


async def test_batched_mode_shows_entries_at_once(tmp_path):
    provider = await started(tmp_path, durable_settings(Durability.BATCHED))
    worker_id = await create(provider, "echo-now")
    holder = sqlite3.connect(store_file(tmp_path), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        await provider.send_input(worker_id, InputRequest("shown before its commit"))
        page = await provider.read_transcript(worker_id, start=1, limit=10)
        assert [entry.content for entry in page.items][:1] == ["shown before its commit"]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    await provider.close()


async def test_an_answer_still_waiting_when_the_store_closes_is_refused_not_left_hanging(tmp_path, monkeypatch):
    provider = await started(tmp_path, durable_settings(Durability.ACKNOWLEDGED))
    worker_id = await create(provider, "echo-now")
    store = provider.runtime.store
    writer = store._writer
    # The writer's commit waits for another connection's write lock longer than closing may take.
    monkeypatch.setattr(sqlite_store, "CLOSE_TIMEOUT_SECONDS", 0.3)
    holder = sqlite3.connect(store_file(tmp_path), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        sending = asyncio.create_task(provider.send_input(worker_id, InputRequest("held back")))
        await asyncio.sleep(0.3)
        assert not sending.done()
        async with asyncio.timeout(5):
            await provider.close()
        with pytest.raises(RuntimeUnavailable):
            async with asyncio.timeout(1):
                await sending
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # The writer still commits what it holds once the lock is free, then ends; its file is released here.
    writer._thread.join(10)
    assert not writer._thread.is_alive()
    store._release(writer, False)
    reopened = await started(tmp_path, durable_settings(Durability.ACKNOWLEDGED))
    entries = await transcript(reopened, worker_id)
    assert entries and entries[0].content == "held back"
    await reopened.close()
