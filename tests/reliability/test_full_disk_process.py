"""``batched`` on a disk that fills up under load: nothing answered is lost across SIGTERM and restarts (issue 24, point 2).

A real server keeps its store on a real 128 MiB tmpfs; clients post inputs;
the disk is filled to the last byte while they do. Before the fix, 22 of 27
answered inputs were gone after a SIGTERM and a restart with the disk still
full, and once the restart called the file damaged. Now the store's reserve
gives the disk room for what was answered, writes are refused (503) until
there is room again, the restart on a full disk says "disk is full", and
once space is back every answered input is there.
"""

from __future__ import annotations

import asyncio
import signal
import time

import httpx

from ..support.server_process import running_server
from ..support.small_filesystem import small_filesystem
from .app_config import EMBEDDED, embedded_toml, write_config
from .load_client import LoadClient

RUNTIME = f"/api/runtimes/{EMBEDDED}"
CLIENTS = 4
SIZE = 65_536
REFUSAL_WAIT = 30.0  # seconds of load after the fill before the test calls the disk not full


def batched_toml() -> str:
    # The store's own byte bound above the filesystem's size: the disk, not max_store_bytes (whose
    # 128 MiB default a quiet machine reached within the first second), is what must run out.
    return embedded_toml(extra='[runtimes.settings.store]\nbackend = "sqlite"\ndurability = "batched"\n').replace(
        "max_workers = 1000\n", "max_workers = 1000\nmax_input_chars = 100000\nmax_store_bytes = 4294967296\n"
    )


async def feed(api: LoadClient, client: int, answered: set[str], refused: list[int], stop: asyncio.Event) -> None:
    reply = await api.post(f"{RUNTIME}/workers", {"profile": "echo"})
    assert reply.status == 201, reply.json()
    worker = reply.json()["worker_id"]
    number = 0
    while not stop.is_set():
        marker = f"{client}/{number}/"
        try:
            reply = await api.post(
                f"{RUNTIME}/workers/{worker}/input", {"content": marker + "x" * (SIZE - len(marker))}
            )
        except (OSError, asyncio.IncompleteReadError, ConnectionError):
            return
        if reply.status == 202:
            answered.add(marker)
            number += 1
        elif reply.status == 409:
            assert reply.json()["error"]["code"] == "worker_busy", reply.json()
            await asyncio.sleep(0.002)
        else:
            assert reply.status == 503, reply.json()
            refused.append(reply.status)
            await asyncio.sleep(0.05)


async def load_while_filling(base_url: str, fs) -> tuple[set[str], list[int]]:
    answered: set[str] = set()
    refused: list[int] = []
    stop = asyncio.Event()
    async with LoadClient(base_url, connections=CLIENTS + 2) as api:
        feeders = [asyncio.create_task(feed(api, client, answered, refused, stop)) for client in range(CLIENTS)]
        await asyncio.sleep(1.0)
        await asyncio.to_thread(fs.fill)
        # SQLite may go on committing into WAL pages it already owns (a checkpoint restarts the log in
        # place) for a while after the fill, longer on a slow machine: load until the first refusal,
        # then a little more, so answers on both sides of the full disk are checked.
        deadline = asyncio.get_running_loop().time() + REFUSAL_WAIT
        while not refused and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.gather(*feeders)
    return answered, refused


async def held_markers(base_url: str) -> set[str]:
    held: set[str] = set()
    async with LoadClient(base_url, connections=2) as api:
        for worker in (await api.get(f"{RUNTIME}/workers", {"limit": 200})).json()["items"]:
            start = 1
            while start is not None:
                page = (
                    await api.get(f"{RUNTIME}/workers/{worker['worker_id']}/transcript", {"start": start, "limit": 100})
                ).json()
                held.update(
                    "/".join(entry["content"].split("/", 2)[:2]) + "/"
                    for entry in page["items"]
                    if entry["role"] == "user"
                )
                start = page["next_start"]
    return held


def runtime_state(base_url: str) -> dict:
    return httpx.get(f"{base_url}{RUNTIME}", timeout=10).json()


def test_a_disk_filled_under_load_loses_nothing_answered_across_sigterm_and_restarts(tmp_path):
    # Room for the load's first second (the log holds a copy of what it commits), then filled. Large
    # enough that what a fast machine commits in that second still leaves room to start once the
    # filler is freed (128 MiB did not, on a quiet machine: the third start found the disk full).
    with small_filesystem(tmp_path / "fs", 512 * 1024 * 1024) as fs:
        config = write_config(tmp_path, batched_toml())
        environ = {"RUNTIME_REGISTRY_DATA_DIR": str(fs.path / "data")}
        with running_server(config, log=tmp_path / "first.log", environ=environ) as first:
            time.sleep(0.5)  # the writer takes its reserve
            answered, refused = asyncio.run(load_while_filling(first.base_url, fs))
            state = runtime_state(first.base_url)
            first.signal(signal.SIGTERM)
            assert first.wait(timeout=20) == 0
            first_log = first.log_text()
        print(f"answered {len(answered)} inputs, {len(refused)} refused while the disk was full")
        assert answered and refused, "the disk did not fill during the load"
        assert state["status"] == "degraded"
        assert "damaged" not in first_log

        # A restart on the still-full disk: unavailable, and says why (not "damaged").
        with running_server(config, log=tmp_path / "second.log", environ=environ) as second:
            state = runtime_state(second.base_url)
        messages = " ".join(diagnostic["message"] for diagnostic in state["diagnostics"])
        assert "damaged" not in messages
        if state["status"] == "unavailable":
            assert "disk is full" in messages

        fs.free()
        with running_server(config, log=tmp_path / "third.log", environ=environ) as third:
            state = runtime_state(third.base_url)
            assert state["status"] == "running", state["diagnostics"]
            held = asyncio.run(held_markers(third.base_url))
        missing = sorted(answered - held)
        assert not missing, f"{len(missing)} of {len(answered)} answered inputs lost: {missing[:5]}"
