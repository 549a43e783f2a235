"""The real thing: `runtime-registry serve` in a subprocess on a free loopback port, stopped by pid with a signal."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

CLI = "import sys; from server.cli import main; sys.argv[0] = 'runtime-registry'; sys.exit(main())"
TOKEN = "process-token-77aa66bb"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serving(log: Path, *extra: str, env: dict[str, str] | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-c", CLI, "serve", "--port", str(port), *extra],
            stdout=output, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, log.read_text()
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
            yield base, process
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def stop(process: subprocess.Popen, sig: int) -> int:
    process.send_signal(sig)
    return process.wait(timeout=15)


def test_serve_drives_a_worker_and_on_sigterm_ends_open_streams_cleanly_and_exits_0(tmp_path):
    with serving(tmp_path / "server.log") as (base, process):
        with httpx.Client(base_url=base, timeout=5) as client:
            worker = client.post("/api/runtimes/backend-internal/workers", json={"profile": "builtin:echo"})
            assert worker.status_code == 201
            accepted = client.post(f"/api/runtimes/backend-internal/workers/{worker.json()['worker_id']}/input", json={"content": "hi"})
            assert accepted.status_code == 202
            with client.stream("GET", "/api/runtimes/backend-internal/events/stream") as stream:
                lines = stream.iter_lines()
                created = accepted.json()["event_id"] - 1  # the worker.created event, just before the input's
                assert next(lines) == f"id: {created}"
                started = time.monotonic()
                process.send_signal(signal.SIGTERM)
                list(lines)  # the stream ends as a complete body: a cut one raises RemoteProtocolError
            assert process.wait(timeout=15) == 0
    assert time.monotonic() - started < 5
    assert "Traceback" not in (tmp_path / "server.log").read_text()


def test_serve_exits_0_on_sigint(tmp_path):
    with serving(tmp_path / "server.log") as (_, process):
        assert stop(process, signal.SIGINT) == 0


def test_serve_logs_each_plugin_and_runtime_but_never_the_token(tmp_path):
    log = tmp_path / "server.log"
    with serving(log, env={"RUNTIME_REGISTRY_TOKEN": TOKEN}) as (base, process):
        assert httpx.get(f"{base}/api/runtimes").status_code == 401
        assert httpx.get(f"{base}/api/runtimes", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        stop(process, signal.SIGTERM)
    text = log.read_text()
    assert "plugin embedded 0.1.0: loaded" in text
    assert "runtime backend-internal (kind embedded, plugin embedded 0.1.0): running" in text
    assert TOKEN not in text and "Traceback" not in text
