"""Pages the SQLite store writes per input (issue 23): WAL frames per input and per commit, by b-tree.

Run: python tests/benchmarks/bench_wal_frames.py [--before TREE] [--inputs N] [--workers N] [--size BYTES]

An ``acknowledged`` commit's cost is mostly the pages it writes: SQLite
appends each dirty page to the write-ahead log as a frame (two ``pwrite``
calls: header, page) and syncs the log, so frames per input is the lever
throughput ratios measure only through the noise of a shared machine. This
counts them, in process: 16 tasks send inputs to ``--workers`` workers (each
task rotating over them, as ``bench_durable.py throughput`` does over HTTP),
first enough for the event log to reach its retention (deletes included),
then ``--inputs`` more with the log's automatic checkpoints off, and the log
file's frame headers are read: frames, commits (frames that end a
transaction) and, through SQLite's ``dbstat`` table, which b-tree each page
belongs to. Frame counts depend on how inputs group into commits, which
depends a little on timing; they do not depend on the machine's speed the
way requests per second do.

``--before TREE`` measures an older checkout too (its packages first on
``PYTHONPATH``, as ``bench_durable.py --before``), each store in a fresh process.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

_WAL_HEADER_BYTES = 32
_FRAME_HEADER_BYTES = 24
#: Inputs sent before counting: the event log (10,000 events, three per input) is full, so deletes run.
_WARM_INPUTS = 4_000
_CLIENTS = 16


def read_frames(wal: bytes) -> tuple[int, list[list[int]]]:
    """The page size and the committed transactions of a write-ahead log: each one's page numbers, in order."""
    if len(wal) < _WAL_HEADER_BYTES:
        return 0, []
    page_size = struct.unpack(">I", wal[8:12])[0]
    salt = wal[16:24]
    commits: list[list[int]] = []
    current: list[int] = []
    offset = _WAL_HEADER_BYTES
    while offset + _FRAME_HEADER_BYTES + page_size <= len(wal):
        page, size_after_commit = struct.unpack(">II", wal[offset : offset + 8])
        if wal[offset + 8 : offset + 16] != salt:
            break  # frames left from before the log was restarted
        current.append(page)
        if size_after_commit:
            commits.append(current)
            current = []
        offset += _FRAME_HEADER_BYTES + page_size
    return page_size, commits


def page_owners(database: Path) -> dict[int, str]:
    """Page number -> ``table or index (page type)``, from ``dbstat`` (empty when SQLite was built without it)."""
    connection = sqlite3.connect(database)
    try:
        rows = connection.execute("SELECT pageno, name, pagetype FROM dbstat").fetchall()
    except sqlite3.OperationalError:
        return {}
    finally:
        connection.close()
    return {page: f"{name} ({kind})" for page, name, kind in rows}


async def _send(durability: str, directory: Path, inputs: int, workers: int, size: int) -> dict[str, object]:
    from runtime_registry.runtimes.embedded import EmbeddedRuntime, EmbeddedSettings
    from runtime_registry.runtimes.embedded.settings import Durability
    from runtime_registry.runtimes.embedded.sqlite_store import SQLiteStore

    path = directory / "store.db"
    store = SQLiteStore(path, durability=Durability(durability))
    runtime = EmbeddedRuntime(EmbeddedSettings(max_workers=workers + 100), store=store)
    await runtime.start()
    ids = [(await runtime.create_worker()).worker.worker_id for _ in range(workers)]
    content = "x" * size
    sent = 0

    async def client(number: int, until: int) -> None:
        nonlocal sent
        index = number * 61
        while sent < until:
            try:
                await runtime.send_input(ids[index % workers], content)
                sent += 1
            except Exception as error:  # a worker still in its last turn: the next one
                if type(error).__name__ != "WorkerBusy":
                    raise
            await asyncio.sleep(0)
            index += 1

    await asyncio.gather(*(client(number, _WARM_INPUTS) for number in range(_CLIENTS)))
    # On the writer's connection, before its next commit: no automatic checkpoint from now
    # on, and the log restarts from its beginning (what is in it now is in the database).
    store.inject_statement("PRAGMA wal_autocheckpoint = 0")
    store.inject_statement("PRAGMA wal_checkpoint(TRUNCATE)")
    await asyncio.gather(*(client(number, sent + 1) for number in range(_CLIENTS)))
    first = sent
    await asyncio.gather(*(client(number, first + inputs) for number in range(_CLIENTS)))
    await asyncio.sleep(0.2)  # the last turns' ends are committed (batched: after its interval)
    counted = sent - first
    # Closing checkpoints and removes the log: keep a copy of it, and of the database, first.
    shutil.copy(path.with_name(path.name + "-wal"), directory / "copy.db-wal")
    shutil.copy(path, directory / "copy.db")
    await runtime.close()
    page_size, commits = read_frames((directory / "copy.db-wal").read_bytes())
    owners = page_owners(directory / "copy.db")
    by_tree: collections.Counter[str] = collections.Counter()
    for pages in commits:
        for page in pages:
            by_tree[owners.get(page, "other")] += 1
    return {"inputs": counted, "commits": len(commits), "page_size": page_size, "by_tree": dict(by_tree)}


def measure(durability: str, inputs: int, workers: int, size: int) -> dict[str, object]:
    """Frames written while ``inputs`` inputs are sent (one store, in this process)."""
    import uvloop

    with tempfile.TemporaryDirectory() as scratch:
        return uvloop.run(_send(durability, Path(scratch), inputs, workers, size))


def in_process(tree: str | None, durability: str, arguments: argparse.Namespace) -> dict[str, object]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    if tree is not None:
        env["PYTHONPATH"] = tree
    command = [sys.executable, __file__, "--measure", durability]
    command += ["--inputs", str(arguments.inputs), "--workers", str(arguments.workers), "--size", str(arguments.size)]
    output = subprocess.run(command, env=env, cwd=tempfile.gettempdir(), capture_output=True, text=True, check=True)
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before")
    parser.add_argument("--inputs", type=int, default=6_000)
    parser.add_argument("--workers", type=int, default=1_000)
    parser.add_argument("--size", type=int, default=15, help="bytes of each input (bench_durable's body is 15)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.measure:
        print(json.dumps(measure(arguments.measure, arguments.inputs, arguments.workers, arguments.size)))
        return
    trees = {"": None} if arguments.before is None else {"before ": arguments.before, "": None}
    print(
        f"WAL frames per input, in process: {_CLIENTS} tasks, {arguments.workers} workers, inputs of"
        f" {arguments.size} bytes, {arguments.inputs} inputs counted (load average {os.getloadavg()[0]:.2f})"
    )
    for durability in ("batched", "acknowledged"):
        for label, tree in trees.items():
            result = in_process(tree, durability, arguments)
            inputs, commits = int(result["inputs"]), max(1, int(result["commits"]))
            by_tree: dict[str, int] = result["by_tree"]  # type: ignore[assignment]
            frames = sum(by_tree.values())
            print(
                f"  {label + durability:>19}: {frames / inputs:5.2f} frames/input  {inputs / commits:6.1f} inputs/commit"
                f"  {frames / commits:6.1f} frames/commit  ({result['page_size']}-byte pages)"
            )
            for name, count in sorted(by_tree.items(), key=lambda item: -item[1]):
                if count / inputs >= 0.02:  # the rest: a page now and then (header, meta, interior pages)
                    print(f"  {'':>19}    {count / inputs:5.2f}/input  {name}")


if __name__ == "__main__":
    main()
