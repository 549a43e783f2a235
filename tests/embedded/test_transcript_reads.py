"""Transcript pages of the SQLite store stop reading at the byte bound (issue 24, point 5).

Before the fix a page read ``limit`` entries from the file, on the loop,
then cut them to ``max_page_bytes``: ``?limit=500`` of 262 KB entries read
them all to return three. Now the file is read row by row in the store's
reader thread and the read stops where the page's bytes end: what a page
allocates is about one page, whatever the limit.
"""

from __future__ import annotations

import gc
import tracemalloc

from runtime_registry.runtimes.embedded.settings import Durability
from tests.embedded.durable import create, durable_settings, send, started, transcript, until_idle

ENTRY = 262_144
MAX_PAGE_BYTES = 1_048_576


async def test_a_page_of_large_entries_reads_about_one_page_whatever_the_limit(tmp_path):
    settings = durable_settings(Durability.ACKNOWLEDGED, max_input_chars=300_000, max_page_bytes=MAX_PAGE_BYTES)
    provider = await started(tmp_path, settings)
    worker = await create(provider, "echo-now")
    for number in range(20):
        await send(provider, worker, f"{number} " + "x" * ENTRY)
        await until_idle(provider, worker)
    await provider.close()
    reopened = await started(tmp_path, settings)  # every entry is in the file, none in memory

    peaks = {}
    for limit in (3, 500):
        gc.collect()
        tracemalloc.start()
        page = await reopened.read_transcript(worker, start=1, limit=limit)
        peaks[limit] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert len(page.items) == 3 and page.next_start == 4  # three fit in 1 MiB of JSON
    entries = await transcript(reopened, worker, limit=500)
    await reopened.close()
    print(f"peak allocated by one page: limit 3 {peaks[3] // 1024} KiB, limit 500 {peaks[500] // 1024} KiB")
    assert [entry.sequence for entry in entries] == list(range(1, 41))
    # Reading all 40 entries (10 MiB) to keep three was the bug: a page now costs about a page.
    assert peaks[500] < 3 * MAX_PAGE_BYTES
    assert peaks[500] < 2 * peaks[3] + MAX_PAGE_BYTES
