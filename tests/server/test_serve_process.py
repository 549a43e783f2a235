"""The real thing: `runtime-registry serve` in a subprocess on a free loopback port, stopped by pid with a signal."""

from __future__ import annotations

import signal
import time
from importlib.metadata import version

import httpx

from ..support.server_process import ServerProcess, running_server

VERSION = version("runtime-registry")

TOKEN = "process-token-77aa66bb"


def stop(served: ServerProcess, sig: int) -> int:
    served.signal(sig)
    return served.wait(timeout=15)


def test_serve_drives_a_worker_and_on_sigterm_ends_open_streams_cleanly_and_exits_0(tmp_path):
    with running_server(log=tmp_path / "server.log") as served:
        with httpx.Client(base_url=served.base_url, timeout=5) as client:
            worker = client.post("/api/runtimes/backend-internal/workers", json={"profile": "builtin:echo"})
            assert worker.status_code == 201
            accepted = client.post(
                f"/api/runtimes/backend-internal/workers/{worker.json()['worker_id']}/input", json={"content": "hi"}
            )
            assert accepted.status_code == 202
            with client.stream("GET", "/api/runtimes/backend-internal/events/stream") as stream:
                lines = stream.iter_lines()
                created = accepted.json()["event_id"] - 1  # the worker.created event, just before the input's
                assert next(lines) == f"id: {created}"
                started = time.monotonic()
                served.signal(signal.SIGTERM)
                list(lines)  # the stream ends as a complete body: a cut one raises RemoteProtocolError
            assert served.wait(timeout=15) == 0
    assert time.monotonic() - started < 5
    assert "Traceback" not in (tmp_path / "server.log").read_text()


def test_serve_exits_0_on_sigint(tmp_path):
    with running_server(log=tmp_path / "server.log") as served:
        assert stop(served, signal.SIGINT) == 0


def test_serve_logs_each_plugin_and_runtime_but_never_the_token(tmp_path):
    log = tmp_path / "server.log"
    with running_server(log=log, environ={"RUNTIME_REGISTRY_TOKEN": TOKEN}) as served:
        base = served.base_url
        assert httpx.get(f"{base}/api/runtimes").status_code == 401
        assert httpx.get(f"{base}/api/runtimes", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        stop(served, signal.SIGTERM)
    text = log.read_text()
    assert f"plugin embedded {VERSION}: loaded" in text
    assert f"runtime backend-internal (kind embedded, plugin embedded {VERSION}): running" in text
    assert TOKEN not in text and "Traceback" not in text
