"""``max_store_bytes`` bounds a SQLite store through real server processes (issue 24, point 12; decision 0222).

One client fills the store of a running server until it is refused; the
server stops (SIGTERM) and a second one starts on the same file: the bound
still holds, nothing answered is gone, and the same file under a larger
bound takes more. The SQLite file itself says how much it holds.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx

from ..support.server_process import running_server
from .app_config import EMBEDDED, write_config

RUNTIME = f"/api/runtimes/{EMBEDDED}"
BOUND = 256 * 1024
TEXT = "é" * 4000  # 8,000 UTF-8 bytes


def config(folder: Path, bound: int) -> Path:
    return write_config(
        folder,
        f'[[runtimes]]\nid = "{EMBEDDED}"\nkind = "embedded"\n'
        f'[runtimes.settings]\nmax_store_bytes = {bound}\ndefault_profile = "echo"\n'
        '[runtimes.settings.profiles.echo]\nbase = "builtin:echo"\n',
    )


def fill(api: httpx.Client, worker_id: str) -> tuple[int, httpx.Response]:
    """Inputs until one is refused (each waits for the echo); how many were answered 202, and the refusal."""
    answered = 0
    while True:
        response = api.post(f"{RUNTIME}/workers/{worker_id}/input", json={"content": TEXT})
        if response.status_code != 202:
            return answered, response
        answered += 1
        deadline = time.monotonic() + 10
        while api.get(f"{RUNTIME}/workers/{worker_id}").json()["status"] != "idle":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert answered < 500, "the bound never refused anything"


def transcript_length(api: httpx.Client, worker_id: str) -> int:
    return int(api.get(f"{RUNTIME}/workers/{worker_id}/transcript", params={"limit": 1}).json()["total"])


def bytes_in_use(path: Path) -> int:
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as connection:
        size, pages, free = (
            connection.execute(f"PRAGMA {name}").fetchone()[0] for name in ("page_size", "page_count", "freelist_count")
        )
    return int((pages - free) * size)


def test_a_bounded_sqlite_store_refuses_past_its_bound_across_restarts_and_loses_nothing(tmp_path: Path) -> None:
    store = tmp_path / ".runtime-registry" / "state" / f"{EMBEDDED}.db"
    with running_server(config(tmp_path, BOUND), log=tmp_path / "first.log") as server:
        with httpx.Client(base_url=server.base_url, timeout=10) as api:
            worker_id = api.post(f"{RUNTIME}/workers", json={}).json()["worker_id"]
            answered, refusal = fill(api, worker_id)
            summary = api.get(RUNTIME).json()
    assert answered > 3
    assert refusal.status_code == 409 and refusal.json()["error"]["code"] == "capacity_exceeded"
    assert "max_store_bytes" in refusal.json()["error"]["message"]
    assert summary["limits"]["kind_specific"]["max_store_bytes"] == BOUND
    assert bytes_in_use(store) <= BOUND * 1.05

    with running_server(config(tmp_path, BOUND), log=tmp_path / "second.log") as server:
        with httpx.Client(base_url=server.base_url, timeout=10) as api:
            again = api.post(f"{RUNTIME}/workers/{worker_id}/input", json={"content": TEXT})
            kept = transcript_length(api, worker_id)
    assert again.status_code == 409  # still full after the restart
    assert kept == 2 * answered  # every answered input and its echo

    with running_server(config(tmp_path, 2 * BOUND), log=tmp_path / "third.log") as server:
        with httpx.Client(base_url=server.base_url, timeout=10) as api:
            more, _ = fill(api, worker_id)
            total = transcript_length(api, worker_id)
    assert more > 3
    assert total == 2 * (answered + more)
    assert bytes_in_use(store) <= 2 * BOUND * 1.05
