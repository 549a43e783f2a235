"""The embedded runtime's memory is bounded by its configuration, whatever the traffic.

Found by the long soak (``tests/benchmarks/soak.py``): RSS kept creeping after
the configured state was full. Part of it was the per-worker index of event
ids: when the log drops a worker's oldest event, the index only moved a head
and compacted after 1,024 dead ids, so each worker could hold ~1,000 dead ids
(~40 KiB) long after the events were gone — 40 MiB at the default 1,000
workers, for a log that retains a few hundred KiB of events. The index now
compacts once half of it is dead (after at least 16 drops).
"""

from __future__ import annotations

import gc
import tracemalloc

from registry_core.blocks import EventLog

WORKERS = 200
RETENTION = 500


def traced_bytes_after(append_rounds: int) -> int:
    log = EventLog(RETENTION)
    worker_ids = [f"w-{index:016x}" for index in range(WORKERS)]
    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        for _ in range(append_rounds):
            for worker_id in worker_ids:
                log.append("worker.output", worker_id, {})
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()


def test_the_event_log_holds_memory_for_its_retention_not_for_every_dropped_event():
    # Ten events per worker: the log is full (2,000 appended, 500 retained).
    full = traced_bytes_after(10)
    # Four hundred per worker: 80,000 appended, still 500 retained.
    churned = traced_bytes_after(400)
    assert churned < 2 * full, f"{full // 1024} KiB when just full, {churned // 1024} KiB after churn"
