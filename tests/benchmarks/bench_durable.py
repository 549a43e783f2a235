"""Durable sessions (issue 11): input throughput per store, restart with a big store, O(page) reads.

Run: python tests/benchmarks/bench_durable.py [throughput] [restart] [pages] [--before TREE]
(all three parts by default; needs wrk)

- **throughput**: ``POST .../input`` over HTTP (wrk ``-t1 -c16``, rotating
  over 1,000 workers) against three real servers in interleaved rounds: the
  memory store, SQLite ``batched`` and SQLite ``acknowledged``; the
  server's CPU per request (all its threads, from ``/proc``) and the load
  average are printed too. Goals (issue 23): batched >= 0.9x memory,
  acknowledged >= 0.7x memory. ``--before TREE`` runs the same three
  stores from an older checkout's package tree (its packages first on
  ``PYTHONPATH``, as ``bench_turns.py --before``), interleaved with this
  checkout's: before and after in the same run. A bare Starlette app that
  answers the memory server's own 202 body (``bench_http.py``'s, on the same
  httptools + uvloop stack) runs in the same rounds: goal memory >= 0.65x bare.
- **restart**: a SQLite store with 10,000 workers and 1,000,000 transcript
  entries (plus a full event window) is written directly, then the real
  server is started on it: time from spawn to the first 200 of a worker
  list, and the server's RSS then, against the same 10,000 workers with
  1,000 entries. Goals: <= 2 s; RSS <= 1.5x.
- **pages**: in-process worker-list, transcript and event pages (50 items,
  from the middle) on the 10k/1M store against a 100-worker / 100-entry
  one. Goal: within 1.5x.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from registry_core import RuntimeContext  # noqa: E402
from runtime_registry.plugins.embedded import EmbeddedProvider  # noqa: E402
from runtime_registry.runtimes.embedded import EmbeddedSettings  # noqa: E402
from runtime_registry.runtimes.embedded.sqlite_schema import create_schema  # noqa: E402
from tests.benchmarks.bench_http import DURATION, _medians, bare_server, runtime_config, wrk  # noqa: E402
from tests.support.server_process import free_port, serve_command, started, wait_until_healthy  # noqa: E402

RUNTIME = "backend-internal"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
INPUT_WORKERS = 1000
FIRST_SERIAL = 1_700_000_000_000_000
FIRST_EVENT = 1_700_000_000_000_000


def serve(directory: Path, port: int) -> list[str]:
    return serve_command(
        "--config", str(directory / "registry.toml"), "--port", str(port), "--log-level", "warning", "--no-access-log"
    )


# -- throughput ---------------------------------------------------------------------


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU time of process ``pid`` so far, all its threads."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def throughput(before: str | None = None) -> dict[str, float]:
    stores = ("memory", "batched", "acknowledged")
    trees = {"": None} if before is None else {"before ": before, "": None}
    runs: dict[str, list[tuple[float, float, int]]] = {tree + store: [] for tree in trees for store in stores}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as scratch:
        servers = {}
        with contextlib.ExitStack() as stack:
            for name in runs:
                store = name.removeprefix("before ")
                tree = trees["before " if name.startswith("before ") else ""]
                env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
                if tree is not None:
                    env["PYTHONPATH"] = tree
                directory = Path(scratch) / name.replace(" ", "-")
                directory.mkdir()
                (directory / "registry.toml").write_text(runtime_config(store))
                port = free_port()
                process = stack.enter_context(started(serve(directory, port), cwd=directory, env=env))
                wait_until_healthy(process, port)
                base = f"http://127.0.0.1:{port}"
                with httpx.Client(base_url=base, timeout=30) as client:
                    ids = [
                        client.post(f"/api/runtimes/{RUNTIME}/workers", json={}).json()["worker_id"]
                        for _ in range(INPUT_WORKERS)
                    ]
                ids_file = directory / "ids.txt"
                ids_file.write_text("\n".join(ids) + "\n")
                servers[name] = (base, ids_file, process.pid)
                if name == "memory":
                    bare, bare_pid = bare_app(stack, Path(scratch), base)
                    servers["bare"] = (bare, ids_file, bare_pid)
            runs["bare"] = []
            cpu["bare"] = []
            for _ in range(ROUNDS):
                for name in runs:
                    base, ids_file, pid = servers[name]
                    cpu_before = process_cpu_seconds(pid)
                    result = wrk(
                        f"{base}/",
                        ("-s", str(HERE / "rotate_post.lua")),
                        (str(ids_file), f"/api/runtimes/{RUNTIME}/workers"),
                    )
                    runs[name].append(result)
                    seconds = float(DURATION.removesuffix("s"))
                    cpu[name].append((process_cpu_seconds(pid) - cpu_before) / max(1.0, result[0] * seconds))
    print(f"load average after: {os.getloadavg()}")
    medians = {name: _medians(runs[name]) for name in runs}
    print("send input over HTTP (wrk -t1 -c16, median of rounds; server CPU per request, all threads):")
    for name in runs:
        rps, p99, errors = medians[name]
        memory = medians["before memory" if name.startswith("before ") else "memory"][0]
        print(
            f"  {name:>19}: {rps:8.0f} req/s  p99 {p99:6.2f} ms  non-2xx {errors}"
            f"  CPU {statistics.median(cpu[name]) * 1e6:5.0f} us/request"
            f"  ({rps / memory:.2f}x memory, {rps / medians['bare'][0]:.2f}x bare)"
        )
    return {name: medians[name][0] for name in runs}


def bare_app(stack: contextlib.ExitStack, scratch: Path, memory: str) -> tuple[str, int]:
    """Start ``bench_http.py``'s bare app answering the memory server's own bodies; its base URL and pid.

    The bodies come from a worker of their own (not one wrk rotates over).
    """
    with httpx.Client(base_url=memory, timeout=30) as client:
        workers = f"/api/runtimes/{RUNTIME}/workers"
        worker = client.post(workers, json={}).json()["worker_id"]
        bodies = {
            "accepted": client.post(f"{workers}/{worker}/input", json={"content": "benchmark input"}).text,
            "worker": client.get(f"{workers}/{worker}").text,
            "workers": client.get(workers, params={"limit": 50}).text,
            "transcript": client.get(f"{workers}/{worker}/transcript", params={"limit": 50}).text,
        }
    bodies_file = scratch / "bare-bodies.json"
    bodies_file.write_text(json.dumps(bodies))
    port = free_port()
    process = stack.enter_context(started(bare_server(bodies_file, port), cwd=scratch))
    wait_until_healthy(process, port)
    return f"http://127.0.0.1:{port}", process.pid


# -- a big store, written directly ----------------------------------------------------


def write_store(path: Path, *, workers: int, entries: int, events: int = 10_000, per_worker: int | None = None) -> None:
    """A valid store file: ``workers`` idle workers, ``entries`` entries (``per_worker`` each from the first
    worker on, or spread evenly), ``events`` events."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = OFF")
    connection.execute("BEGIN")
    create_schema(connection)
    extra = 0
    if per_worker is None:
        per_worker = entries // workers
        extra = entries - per_worker * workers
    intent = '{"kind":"assistant","purpose":null,"objective":null,"role":null}'
    worker_rows = []
    worker_ids = []
    for index in range(workers):
        serial = FIRST_SERIAL + index
        worker_id = f"w-{serial:013x}{secrets.token_hex(4)}"
        worker_ids.append(worker_id)
        count = min(per_worker + (1 if index < extra else 0), max(0, entries - index * per_worker))
        worker_rows.append((serial, worker_id, None, intent, "builtin:default", 1_700_000_000_000_000, "[]", count))
    # Schema 7: what is written once in ``workers``, the hot state in ``worker_state`` (decision 0197).
    connection.executemany("INSERT INTO workers VALUES (?, ?, ?, ?, ?, ?, ?)", [row[:7] for row in worker_rows])
    connection.executemany(
        "INSERT INTO worker_state VALUES (?, 'idle', ?, ?, NULL, 0, 0, 0)",
        [(row[0], row[7], row[7]) for row in worker_rows],
    )
    content = "an entry of about a hundred characters, as a short chat message would be, to fill the store up."

    def entry_rows():
        for index, row in enumerate(worker_rows):
            for sequence in range(1, row[7] + 1):
                yield (row[0], sequence, "user", content, FIRST_EVENT + index, 1_700_000_000_000_000)

    connection.executemany("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?)", entry_rows())
    last_event = FIRST_EVENT + 2 * entries + workers
    event_rows = (
        (
            last_event - events + 1 + offset,
            "worker.turn_completed",
            worker_ids[offset % workers],
            '{"turn":1}',
            1_700_000_000_000_000,
        )
        for offset in range(events)
    )
    connection.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", event_rows)
    connection.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?)",
        [
            ("first_serial", FIRST_SERIAL),
            ("next_serial", FIRST_SERIAL + workers),
            ("first_event_id", FIRST_EVENT),
            ("last_event_id", last_event),
            ("cursor_tag", "benchmrk"),
        ],
    )
    connection.execute("COMMIT")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def first_request(directory: Path) -> tuple[float, int]:
    """Seconds from spawn to the first 200 of a worker list, and the RSS (KiB) then."""
    port = free_port()
    spawned = time.perf_counter()
    with started(serve(directory, port), cwd=directory) as process:
        with httpx.Client(timeout=30) as client:
            while True:
                try:
                    if client.get(f"http://127.0.0.1:{port}/api/runtimes/{RUNTIME}/workers?limit=1").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None:
                    raise AssertionError("the server exited")
                time.sleep(0.01)
        took = time.perf_counter() - spawned
        return took, rss_kib(process.pid)


def restart(scratch: Path) -> None:
    sizes = {"10k workers / 1M entries": (10_000, 1_000_000), "10k workers / 1k entries": (10_000, 1_000)}
    results = {}
    for name, (workers, entries) in sizes.items():
        directory = scratch / name.replace(" ", "").replace("/", "-")
        directory.mkdir()
        (directory / "registry.toml").write_text(runtime_config("acknowledged"))
        store = directory / ".runtime-registry" / "state" / f"{RUNTIME}.db"
        began = time.perf_counter()
        write_store(store, workers=workers, entries=entries)
        print(f"  wrote {name}: {store.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - began:.1f} s")
        runs = [first_request(directory) for _ in range(3)]
        results[name] = (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
    # The same server with an empty memory store: what starting Python and the server costs alone.
    baseline = scratch / "memory-baseline"
    baseline.mkdir()
    (baseline / "registry.toml").write_text(runtime_config("memory"))
    runs = [first_request(baseline) for _ in range(3)]
    results["empty memory store (baseline)"] = (
        statistics.median(r[0] for r in runs),
        statistics.median(r[1] for r in runs),
    )
    print("restart: spawn to the first 200 of a worker list, and RSS then (median of 3):")
    base_rss = results["10k workers / 1k entries"][1]
    for name, (took, rss) in results.items():
        print(f"  {name}: {took * 1000:7.0f} ms  RSS {rss / 1024:6.1f} MiB  ({rss / base_rss:.2f}x the 1k-entry store)")


# -- pages ---------------------------------------------------------------------------


async def page_costs(data_dir: Path) -> dict[str, float]:
    provider = EmbeddedProvider(RUNTIME, EmbeddedSettings(max_workers=20000), context=RuntimeContext(data_dir))
    began = time.perf_counter()
    await provider.start()
    opened = time.perf_counter() - began
    try:
        workers = provider.runtime._roster
        middle = workers._records[len(workers._records) // 2]
        cursor = f"{middle.serial}-{provider.runtime._cursor_tag}"
        chatty = max(provider.runtime._workers.values(), key=lambda w: len(w.transcript))
        start = max(1, len(chatty.transcript) // 2 - 25)
        events = provider.runtime.events
        event_cursor = events.first_id + len(events) // 2

        async def list_page():
            await provider.list_workers(limit=50, cursor=cursor)

        async def transcript_page():
            await provider.read_transcript(chatty.worker_id, start=start, limit=50)

        async def event_page():
            await provider.read_events(cursor=event_cursor, limit=50)

        costs = {}
        for name, operation in (("worker list", list_page), ("transcript", transcript_page), ("events", event_page)):
            for _ in range(200):
                await operation()
            samples = []
            for _ in range(7):
                began = time.perf_counter()
                for _ in range(500):
                    await operation()
                samples.append((time.perf_counter() - began) / 500)
            costs[name] = statistics.median(samples)
        costs["open and restore (once)"] = opened
        return costs
    finally:
        await provider.close()


def pages(scratch: Path) -> None:
    results = {}
    # The same page in both: 50 entries from the middle of a 100-entry transcript.
    for name, (workers, entries) in {"100 / 100": (100, 100), "10k / 1M": (10_000, 1_000_000)}.items():
        data_dir = scratch / ("pages-" + name.replace(" ", "").replace("/", "-"))
        write_store(
            data_dir / "state" / f"{RUNTIME}.db",
            workers=workers,
            entries=entries,
            events=min(10_000, 2 * entries),
            per_worker=100,
        )
        results[name] = asyncio.run(page_costs(data_dir))
    print("pages of 50 from the middle, in-process on the SQLite store (median of 7 x 500):")
    for operation in results["100 / 100"]:
        small, big = results["100 / 100"][operation], results["10k / 1M"][operation]
        print(
            f"  {operation:>12}: 100 workers/100 entries {small * 1e6:7.1f} us   10k/1M {big * 1e6:7.1f} us   ({big / small:.2f}x)"
        )


def main() -> None:
    arguments = sys.argv[1:]
    before = None
    if "--before" in arguments:
        at = arguments.index("--before")
        before = arguments[at + 1]
        del arguments[at : at + 2]
    parts = set(arguments) or {"throughput", "restart", "pages"}
    with tempfile.TemporaryDirectory() as scratch:
        if "throughput" in parts:
            throughput(before)
        if "restart" in parts:
            restart(Path(scratch))
        if "pages" in parts:
            pages(Path(scratch))


if __name__ == "__main__":
    main()
