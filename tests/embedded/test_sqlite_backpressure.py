"""The checks the SQLite store makes on every input, written out on the loop (decision 0198), still hold.

``batched`` answers wait once the oldest uncommitted batch is older than
``BEHIND_SECONDS`` (decision 0181), and an input's cost in the file, written
out for the small rows every input has, is what the general measure says.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from registry_core.blocks.event_log import EVENT_ENVELOPE_BYTES
from runtime_registry.runtimes.embedded.settings import Durability
from runtime_registry.runtimes.embedded.sqlite_store import (
    _LOCAL_ROW_BYTES,
    BEHIND_SECONDS,
    SQLiteStore,
    _utf8_size,
)
from tests.embedded.durable import create, durable_settings, send, started, until_idle


async def test_a_batched_answer_waits_while_the_oldest_uncommitted_batch_is_too_old(tmp_path):
    provider = await started(tmp_path, durable_settings(Durability.BATCHED))
    try:
        worker_id = await create(provider, "echo-now")
        await until_idle(provider, worker_id)
        writer = provider.runtime.store._writer
        release = threading.Event()
        commit = writer._commit

        def held(batches):  # the writer thread stalls (as on a slow disk) until released
            release.wait(10)
            commit(batches)

        writer._commit = held
        await send(provider, worker_id, "first")  # the writer is not behind yet: answered at once
        await until_idle(provider, worker_id)
        await asyncio.sleep(BEHIND_SECONDS * 3)
        # Only the age says "behind" here: the uncommitted bytes are far below their bound.
        assert writer.uncommitted and writer.uncommitted_bytes < 100_000
        assert time.monotonic() - writer.uncommitted[0].sealed_at > BEHIND_SECONDS
        second = asyncio.ensure_future(send(provider, worker_id, "second"))
        await asyncio.sleep(BEHIND_SECONDS * 3)
        assert not second.done(), "answered while the writer was too far behind"
        release.set()
        async with asyncio.timeout(10):
            await second
    finally:
        release.set()
        await provider.close()


@pytest.mark.parametrize(
    "content",
    [
        "",
        "x",
        "x" * 15,
        "x" * (_LOCAL_ROW_BYTES - EVENT_ENVELOPE_BYTES),  # the event row just fits a page
        "x" * (_LOCAL_ROW_BYTES - EVENT_ENVELOPE_BYTES + 1),  # the event row spills, the entry does not
        "x" * _LOCAL_ROW_BYTES,
        "x" * 5000,
        "é" * 300,
        "🙂" * 200,
    ],
    ids=lambda content: f"{len(content)}{'' if content.isascii() else '-utf8'}",
)
def test_an_inputs_cost_in_the_file_is_its_two_rows_cost(tmp_path, content):
    store = SQLiteStore(tmp_path / "s.db", durability=Durability.BATCHED)
    size = _utf8_size(content)
    expected = store._row_file_bytes(size) + store._row_file_bytes(size + EVENT_ENVELOPE_BYTES)
    assert store._input_file_bytes(content) == expected
