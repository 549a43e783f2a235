"""Resident memory and page latency of a SQLite runtime whose event retention is far beyond memory (issue 23).

Run: python tests/benchmarks/bench_event_tiers.py [--small 100000] [--large 10000000] [--reads 200]

For each size N, a store file is filled with N events (bulk SQL, as a
long-running runtime would have written them: three workers' input and
output events), then a fresh process opens it with ``event_retention = N``
(the default ``events_in_memory``: the newest 10,000 in memory) and reports
its resident memory after the start (VmRSS and VmHWM, the peak), how long the
start took, and the median / p99 latency of 50-event pages read at the
oldest retained event (from the file), at the middle, and at the newest
(from memory) — one worker's pages and the runtime's. Printed side by side,
with the large size's figures as a ratio of the small one's (same run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

RUNTIME = "tiers"
PAGE = 50


def fill(data_dir: Path, count: int) -> None:
    """A store with three workers and ``count`` events, written straight to the file after a first start."""
    asyncio.run(_first_start(data_dir))
    path = data_dir / "state" / f"{RUNTIME}.db"
    connection = sqlite3.connect(path)
    workers = [row[0] for row in connection.execute("SELECT worker_id FROM workers ORDER BY serial")]
    (last,) = connection.execute("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'last_event_id'").fetchone()
    created = int(time.time() * 1_000_000)
    rows = (
        (
            last + 1 + n,
            "worker.input_accepted" if n % 2 == 0 else "worker.output",
            workers[n % len(workers)],
            json.dumps({"role": "user", "content": f"message {n}", "transcript_sequence": n + 1}),
            created + n,
        )
        for n in range(count)
    )
    connection.execute("BEGIN")
    connection.executemany("INSERT INTO events (id, type, worker_id, data, created_us) VALUES (?, ?, ?, ?, ?)", rows)
    connection.execute("UPDATE meta SET value = ? WHERE key = 'last_event_id'", (last + count,))
    connection.execute("COMMIT")
    connection.close()


async def _first_start(data_dir: Path) -> None:
    provider = _provider(data_dir, 10)
    await provider.start()
    from registry_core import CreateWorkerRequest

    for _ in range(3):
        await provider.create_worker(CreateWorkerRequest())
    await provider.close()


def _provider(data_dir: Path, retention: int):
    from registry_core import RuntimeContext
    from runtime_registry.plugins.embedded import EmbeddedProvider
    from runtime_registry.runtimes.embedded import EmbeddedSettings

    return EmbeddedProvider(RUNTIME, EmbeddedSettings(event_retention=retention), context=RuntimeContext(data_dir))


def _memory_kib() -> dict[str, int]:
    status = Path("/proc/self/status").read_text()
    return {
        key: int(line.split()[1])
        for line in status.splitlines()
        for key in ("VmRSS", "VmHWM")
        if line.startswith(key + ":")
    }


async def _measure(data_dir: Path, retention: int, reads: int) -> dict[str, object]:
    began = time.perf_counter()
    provider = _provider(data_dir, retention)
    await provider.start()
    started = time.perf_counter() - began
    memory = _memory_kib()
    first = (await provider.read_events(cursor=None, limit=1)).events[0].id
    last = provider.runtime.events.last_id
    worker = provider.runtime.events.read(cursor=None, limit=1).events[0].worker_id
    spots = {"oldest": first - 1, "middle": (first + last) // 2, "newest": last - PAGE - 1}
    figures: dict[str, object] = {"start_s": started, **memory, "in_memory": len(provider.runtime.events)}
    for name, cursor in spots.items():
        for scope, worker_id in (("runtime", None), ("worker", worker)):
            times = []
            for _ in range(reads):
                tick = time.perf_counter()
                page = await provider.read_events(cursor=cursor, limit=PAGE, worker_id=worker_id)
                times.append(time.perf_counter() - tick)
                assert page.events, (name, scope)
            times.sort()
            figures[f"{name} {scope}"] = (statistics.median(times) * 1000, times[int(len(times) * 0.99) - 1] * 1000)
    await provider.close()
    return figures


def child(data_dir: str, retention: int, reads: int) -> None:
    print(json.dumps(asyncio.run(_measure(Path(data_dir), retention, reads))))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=10_000_000)
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        directory, retention, reads = arguments.child
        child(directory, int(retention), int(reads))
        return
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-tiers-") as directory:
        for count in (arguments.small, arguments.large):
            data_dir = Path(directory) / str(count)
            tick = time.perf_counter()
            fill(data_dir, count)
            print(f"filled {count:,} events in {time.perf_counter() - tick:.1f} s", flush=True)
            answer = subprocess.run(
                [sys.executable, __file__, "--child", str(data_dir), str(count + 10), str(arguments.reads)],
                capture_output=True,
                text=True,
                check=True,
            )
            results[count] = json.loads(answer.stdout)
    small, large = results[arguments.small], results[arguments.large]
    print(f"\nretention {arguments.small:,} vs {arguments.large:,} (events_in_memory 10,000):")
    print(f"  in memory: {small['in_memory']:,} vs {large['in_memory']:,} events")
    for key in ("VmRSS", "VmHWM"):
        print(f"  {key}: {small[key] / 1024:.1f} vs {large[key] / 1024:.1f} MiB ({large[key] / small[key]:.2f}x)")
    print(f"  start: {small['start_s'] * 1000:.0f} vs {large['start_s'] * 1000:.0f} ms")
    for name in ("oldest", "middle", "newest"):
        for scope in ("runtime", "worker"):
            key = f"{name} {scope}"
            (sp50, sp99), (lp50, lp99) = small[key], large[key]
            print(
                f"  page of {PAGE}, {key:>15}: p50 {sp50:.3f} vs {lp50:.3f} ms ({lp50 / sp50:.2f}x), "
                f"p99 {sp99:.3f} vs {lp99:.3f} ms"
            )


if __name__ == "__main__":
    main()
