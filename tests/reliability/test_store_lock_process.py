"""One server per store file, held by a lock on the database itself (issue 24, point 12).

Before the fix the lock was the ``.lock`` file's: deleting it while a server
ran let a second server share the store (split brain, event rows deleted,
and the next start refused the file). Now the first server holds a lock on
the database file itself, which no deleted file can release.
"""

from __future__ import annotations

import httpx

from ..support.server_process import running_server
from .app_config import EMBEDDED, embedded_toml, write_config

RUNTIME = f"/api/runtimes/{EMBEDDED}"


def test_deleting_the_lock_file_while_serving_does_not_let_a_second_server_in(tmp_path):
    config = write_config(tmp_path, embedded_toml(extra='[runtimes.settings.store]\nbackend = "sqlite"\n'))
    lock = tmp_path / ".runtime-registry" / "state" / f"{EMBEDDED}.db.lock"
    with running_server(config, log=tmp_path / "first.log") as first:
        worker = httpx.post(f"{first.base_url}{RUNTIME}/workers", json={}, timeout=10).json()["worker_id"]
        assert lock.exists()
        lock.unlink()
        with running_server(config, log=tmp_path / "second.log") as second:
            state = httpx.get(f"{second.base_url}{RUNTIME}", timeout=10).json()
            refused = httpx.post(f"{second.base_url}{RUNTIME}/workers", json={}, timeout=10)
        assert state["status"] == "unavailable"
        assert "in use" in state["diagnostics"][0]["message"]
        assert refused.status_code == 503
        # The first server never noticed.
        reply = httpx.post(
            f"{first.base_url}{RUNTIME}/workers/{worker}/input", json={"content": "still mine"}, timeout=10
        )
        assert reply.status_code == 202
    with running_server(config, log=tmp_path / "third.log") as third:
        assert httpx.get(f"{third.base_url}{RUNTIME}", timeout=10).json()["status"] == "running"
        entries = httpx.get(f"{third.base_url}{RUNTIME}/workers/{worker}/transcript", timeout=10).json()["items"]
    assert "still mine" in [entry["content"] for entry in entries]
