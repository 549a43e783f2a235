"""A restart reads the event table only as far as the event log keeps it (issue 24, point 4).

Before the fix a restart read every retained row (10,000 by default) and
then cut them to the log's byte bound: 3,636 large events (1.36 GB of JSON)
took 7.8-10.1 s and 1.86 GB of RSS before the first answer. Now the rows
are read newest first and the read stops at ``max_store_bytes``.
"""

from __future__ import annotations

import gc
import tracemalloc

from runtime_registry.runtimes.embedded.settings import Durability
from tests.embedded.durable import all_events, create, durable_settings, send, started, until_idle

EVENT = 262_144
MAX_STORE_BYTES = 2 * 1024 * 1024


async def test_a_restart_reads_about_the_log_byte_bound_of_events_not_the_table(tmp_path):
    # Written with a large byte bound, so the table holds ~20 MB of event JSON ...
    writing = durable_settings(Durability.ACKNOWLEDGED, max_input_chars=300_000, max_store_bytes=64 * 1024 * 1024)
    provider = await started(tmp_path, writing)
    worker = await create(provider, "echo-now")
    for number in range(40):
        await send(provider, worker, f"{number} " + "x" * EVENT)
        await until_idle(provider, worker)
    await provider.close()

    # ... and read back by a runtime that keeps 2 MiB of events.
    reading = durable_settings(Durability.ACKNOWLEDGED, max_input_chars=300_000, max_store_bytes=MAX_STORE_BYTES)
    gc.collect()
    tracemalloc.start()
    reopened = await started(tmp_path, reading)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    in_memory = reopened.runtime.events
    kept_in_memory, kept_bytes = len(in_memory), in_memory.retained_bytes
    events, _ = await all_events(reopened)
    await reopened.close()
    print(f"restart peak allocation {peak // 1024} KiB for {kept_in_memory} events kept in memory")
    assert 0 < kept_in_memory < len(events) and kept_bytes <= MAX_STORE_BYTES
    # Every retained event is still readable: the older ones from the file (issue 23).
    ids = [event.id for event in events]
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # gapless, oldest first
    assert sum(len(str(event.data)) for event in events) > 8 * MAX_STORE_BYTES
    assert peak < 4 * MAX_STORE_BYTES
