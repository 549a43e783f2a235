"""``batched`` durability keeps its bound under load, for small and large inputs alike (issue 24, point 1).

Eight clients post inputs to their own workers as fast as the server
answers, then the server is killed (SIGKILL) or stopped (SIGTERM), and a
second server on the same data directory reads everything back. Before the
fix the writer's queue had no bound: with 262 KB inputs it fell seconds
behind, SIGKILL lost 253 of 309 answered inputs (the oldest answered 4.09 s
before the kill), SIGTERM gave up after 4 s and lost 138 of 386, and RSS
grew to 600-720 MiB. Now answers wait when the writer is behind
(backpressure, decision 0181): what is answered and not committed stays
under ``MAX_UNCOMMITTED_BYTES`` and was never older than ``BEHIND_SECONDS``
when it was answered.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import pytest

from runtime_registry.runtimes.embedded.sqlite_store import (
    BATCH_INTERVAL_SECONDS,
    BEHIND_SECONDS,
    MAX_UNCOMMITTED_BYTES,
)

from ..support.server_process import running_server
from .app_config import EMBEDDED, embedded_toml, write_config
from .load_client import LoadClient

RUNTIME = f"/api/runtimes/{EMBEDDED}"
CLIENTS = 8
LOAD_SECONDS = 3.0
LARGE = 262_144
SMALL = 200
#: Scheduling slack on a loaded 2-core machine (as tests/reliability/test_durable_process.py).
SLACK_SECONDS = 0.5


def batched_toml() -> str:
    return embedded_toml(
        extra=(
            '[runtimes.settings.store]\nbackend = "sqlite"\ndurability = "batched"\n'
            # The echo replies with the input: each answered input is two large entries and two events.
        )
    ).replace("max_workers = 1000\n", "max_workers = 1000\nmax_input_chars = 300000\n")


async def feed(api: LoadClient, client: int, size: int, answered: dict[str, float], stop: asyncio.Event) -> None:
    """One client: its own worker, inputs one after another; each answered one recorded with when."""
    reply = await api.post(f"{RUNTIME}/workers", {"profile": "echo"})
    assert reply.status == 201, reply.json()
    worker = reply.json()["worker_id"]
    number = 0
    while not stop.is_set():
        marker = f"{client}/{number}/"
        try:
            reply = await api.post(
                f"{RUNTIME}/workers/{worker}/input", {"content": marker + "x" * (size - len(marker))}
            )
        except (OSError, asyncio.IncompleteReadError, ConnectionError):
            return  # the server is gone
        if reply.status == 202:
            answered[marker] = time.monotonic()
            number += 1
        elif reply.status == 409:
            await asyncio.sleep(0.001)  # the echo of the last input is still being written
        else:
            return  # shutting down (503)


def peak_rss(pid: int, stop: threading.Event, peaks: list[int]) -> None:
    while not stop.is_set():
        try:
            for line in open(f"/proc/{pid}/status").read().splitlines():  # noqa: SIM115
                if line.startswith("VmRSS:"):
                    peaks.append(int(line.split()[1]))
        except OSError:
            return
        time.sleep(0.05)


async def load_then_signal(
    base_url: str, server, size: int, signum: int, seconds: float = LOAD_SECONDS
) -> tuple[dict[str, float], float, int]:
    answered: dict[str, float] = {}
    stop = asyncio.Event()
    watching, peaks = threading.Event(), [0]
    watcher = threading.Thread(target=peak_rss, args=(server.pid, watching, peaks), daemon=True)
    watcher.start()
    async with LoadClient(base_url, connections=CLIENTS + 2) as api:
        feeders = [asyncio.create_task(feed(api, client, size, answered, stop)) for client in range(CLIENTS)]
        await asyncio.sleep(seconds)
        signalled_at = time.monotonic()
        os.kill(server.pid, signum)
        if signum == signal.SIGKILL:
            stop.set()
        await asyncio.wait(feeders, timeout=15)
        stop.set()
        await asyncio.gather(*feeders, return_exceptions=True)
    watching.set()
    watcher.join()
    return answered, signalled_at, max(peaks)


async def contents_held(base_url: str) -> set[str]:
    """The marker of every input entry in every transcript."""
    held: set[str] = set()
    async with LoadClient(base_url, connections=4) as api:
        listed = (await api.get(f"{RUNTIME}/workers", {"limit": 200})).json()["items"]
        for worker in listed:
            start = 1
            while start is not None:
                reply = await api.get(
                    f"{RUNTIME}/workers/{worker['worker_id']}/transcript", {"start": start, "limit": 50}
                )
                assert reply.status == 200, reply.json()
                for entry in reply.json()["items"]:
                    if entry["role"] == "user":
                        held.add(entry["content"][: entry["content"].index("/", entry["content"].index("/") + 1) + 1])
                start = reply.json()["next_start"]
    return held


def suffix_only(answered: dict[str, float], held: set[str]) -> bool:
    """Per client, what is missing comes after everything present (no hole in the middle)."""
    for client in range(CLIENTS):
        numbers = sorted(int(m.split("/")[1]) for m in answered if m.startswith(f"{client}/"))
        present = [n for n in numbers if f"{client}/{n}/" in held]
        if present and present != numbers[: len(present)]:
            return False
    return True


@pytest.mark.parametrize("size", [LARGE, SMALL], ids=["262KB", "200B"])
def test_sigkill_loses_only_what_the_bound_allows(tmp_path, size):
    config = write_config(tmp_path, batched_toml())
    with running_server(config, log=tmp_path / "first.log") as first:
        answered, killed_at, peak_kib = asyncio.run(load_then_signal(first.base_url, first, size, signal.SIGKILL))
        first.wait(timeout=10)
    with running_server(config, log=tmp_path / "second.log") as second:
        held = asyncio.run(contents_held(second.base_url))
    lost = {marker: when for marker, when in answered.items() if marker not in held}
    oldest_lost = killed_at - min(lost.values()) if lost else 0.0
    print(
        f"{size} B inputs: answered {len(answered)}, lost {len(lost)}, oldest lost answered {oldest_lost:.3f} s "
        f"before the kill, peak RSS {peak_kib // 1024} MiB"
    )
    assert len(answered) > CLIENTS, "the load did not get going"
    assert suffix_only(answered, held)
    # Bytes: what was answered and not committed is bounded (plus one input per client in flight).
    assert len(lost) * size <= MAX_UNCOMMITTED_BYTES + CLIENTS * size
    # Time: nothing answered well before the kill is lost.
    assert oldest_lost <= BEHIND_SECONDS + BATCH_INTERVAL_SECONDS + SLACK_SECONDS
    if size == LARGE:
        assert peak_kib < 400 * 1024, f"peak RSS {peak_kib // 1024} MiB"


def test_sigterm_commits_everything_answered_under_load(tmp_path):
    config = write_config(tmp_path, batched_toml())
    with running_server(config, log=tmp_path / "first.log") as first:
        # Longer than the SIGKILL runs: before the fix the backlog grew with the load's length.
        answered, stopped_at, _ = asyncio.run(
            load_then_signal(first.base_url, first, LARGE, signal.SIGTERM, seconds=2 * LOAD_SECONDS)
        )
        status = first.wait(timeout=20)
        took = time.monotonic() - stopped_at
        log = first.log_text()
    print(f"SIGTERM after {len(answered)} answered 262 KB inputs: exit {status} after {took:.2f} s")
    assert status == 0
    assert "did not finish" not in log and "could not be written" not in log
    with running_server(config, log=tmp_path / "second.log") as second:
        held = asyncio.run(contents_held(second.base_url))
    missing = [marker for marker in answered if marker not in held]
    assert not missing, f"{len(missing)} of {len(answered)} answered inputs lost across SIGTERM: {missing[:5]}"
