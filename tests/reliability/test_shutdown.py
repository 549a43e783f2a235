"""SIGTERM while turns are in flight and event streams are open: a quick, clean, zero exit.

The server gets SIGTERM with five workers in the middle of a (30 s) turn and
three clients reading the live event stream. It must exit with status 0 within
5 seconds, every stream must end as a complete HTTP response (the chunked body
terminated, not cut: httpx raises ``RemoteProtocolError`` on a cut one), and
the log must hold no traceback.
"""

from __future__ import annotations

import asyncio
import signal
import time

import httpx
import pytest

from ..support.server_process import running_server
from .app_config import EMBEDDED, SLOW_PROFILE, embedded_toml, write_config

STREAMS = 3
BUSY_WORKERS = 5
#: The issue's bound on shutdown.
EXIT_WITHIN_SECONDS = 5.0


async def read_stream(api: httpx.AsyncClient, received: asyncio.Event) -> tuple[list[str], BaseException | None]:
    """Read the stream until it ends; the event names seen, and the exception that ended it (if any)."""
    names: list[str] = []
    try:
        async with api.stream("GET", f"/api/runtimes/{EMBEDDED}/events/stream") as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    names.append(line.split(":", 1)[1].strip())
                    received.set()
    except Exception as exc:
        return names, exc
    return names, None


@pytest.fixture
def server(tmp_path):
    config = write_config(tmp_path, embedded_toml(slow_delay_seconds=30.0, heartbeat_seconds=0.5))
    with running_server(config, log=tmp_path / "server.log") as served:
        yield served


async def test_sigterm_with_turns_in_flight_and_open_streams_exits_0_quickly_and_ends_streams_cleanly(server):
    async with httpx.AsyncClient(base_url=server.base_url, timeout=15) as api:
        for _ in range(BUSY_WORKERS):
            created = await api.post(f"/api/runtimes/{EMBEDDED}/workers", json={"profile": SLOW_PROFILE})
            worker_id = created.json()["worker_id"]
            accepted = await api.post(f"/api/runtimes/{EMBEDDED}/workers/{worker_id}/input", json={"content": "long"})
            assert accepted.status_code == 202
        started = [asyncio.Event() for _ in range(STREAMS)]
        streams = [asyncio.create_task(read_stream(api, event)) for event in started]
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in started)), timeout=10)

        signalled = time.monotonic()
        server.signal(signal.SIGTERM)
        status = await asyncio.to_thread(server.wait, EXIT_WITHIN_SECONDS + 5)
        took = time.monotonic() - signalled
        endings = await asyncio.wait_for(asyncio.gather(*streams), timeout=5)

    assert status == 0, server.log_text()
    assert took < EXIT_WITHIN_SECONDS, f"shutdown took {took:.1f} s"
    for names, error in endings:
        assert error is None, f"a stream was cut instead of ended: {error!r}"
        assert names.count("worker.turn_started") == BUSY_WORKERS
    assert "Traceback" not in server.log_text()
