"""A frozen filesystem under the store does not stall the server (issue 24, point 8).

The store lives on a real ext4 filesystem that the test freezes
(``fsfreeze -f``). Before the fix one transcript read ran on the event loop
and hung there until the thaw, and ``/healthz``, reads and inputs of every
runtime hung with it. Now file reads run in the store's reader thread: the
read waits (and gets the runtime's timeout), everything else answers.
"""

from __future__ import annotations

import threading
import time

import httpx

from ..support.frozen_filesystem import freezable_filesystem
from ..support.server_process import running_server
from .app_config import EMBEDDED, embedded_toml, write_config

RUNTIME = f"/api/runtimes/{EMBEDDED}"


def test_a_transcript_read_on_a_frozen_filesystem_does_not_stall_healthz(tmp_path):
    with freezable_filesystem(tmp_path / "disk") as fs:
        toml = embedded_toml(extra='[runtimes.settings.store]\nbackend = "sqlite"\n').replace(
            "[server]\n", "[server]\ncall_timeout_seconds = 4\n"
        )
        config = write_config(tmp_path, toml)
        environ = {"RUNTIME_REGISTRY_DATA_DIR": str(fs.path / "data")}
        with running_server(config, log=tmp_path / "server.log", environ=environ) as server:
            with httpx.Client(base_url=server.base_url, timeout=30) as client:
                worker = client.post(f"{RUNTIME}/workers", json={"profile": "echo"}).json()["worker_id"]
                assert client.post(f"{RUNTIME}/workers/{worker}/input", json={"content": "hello"}).status_code == 202
                time.sleep(0.5)
                fs.freeze()
                try:
                    answers: dict[str, object] = {}

                    def read() -> None:
                        started = time.monotonic()
                        try:
                            answers["status"] = client.get(f"{RUNTIME}/workers/{worker}/transcript").status_code
                        except httpx.HTTPError as error:
                            answers["status"] = type(error).__name__
                        answers["took"] = time.monotonic() - started

                    reader = threading.Thread(target=read, daemon=True)
                    reader.start()
                    time.sleep(0.5)  # the read is in flight, on the frozen file
                    started = time.monotonic()
                    health = httpx.get(f"{server.base_url}/healthz", timeout=30)
                    listed = httpx.get(f"{server.base_url}{RUNTIME}/workers", timeout=30)
                    healthz_took = time.monotonic() - started
                    reader.join(timeout=20)
                finally:
                    fs.thaw()
                print(f"frozen: /healthz and a worker list in {healthz_took:.3f} s; the transcript read: {answers}")
                assert health.status_code == 200 and listed.status_code == 200
                # The loop was free: far quicker than the stuck read's own timeout (4 s).
                assert healthz_took < 2.0
                after = client.get(f"{RUNTIME}/workers/{worker}/transcript")
                assert after.status_code == 200
                assert after.json()["items"][0]["content"] == "hello"
