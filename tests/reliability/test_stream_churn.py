"""Event streams that come and go leave nothing behind: descriptors, memory and waiters are freed.

Clients open the live stream, read the retained events and hang up without a
word, in waves of a hundred, while inputs keep events flowing. After every
wave the server's open descriptors are back where they started, and after
ten waves its memory has not grown with them.
"""

from __future__ import annotations

import asyncio

import pytest

from ..support.server_process import running_server
from .app_config import EMBEDDED, embedded_toml, write_config
from .load_client import LoadClient

WAVES = 6
STREAMS_PER_WAVE = 100
RSS_GROWTH_LIMIT_KIB = 4 * 1024


@pytest.fixture
def server(tmp_path):
    config = write_config(tmp_path, embedded_toml(event_retention=20, heartbeat_seconds=0.2))
    with running_server(config, log=tmp_path / "server.log") as served:
        yield served


async def open_read_and_drop(port: int) -> bytes:
    """Open the stream, read until its first event has arrived, then close the socket."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /api/runtimes/{EMBEDDED}/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    received = b""
    while b"\nid: " not in received and b"\nevent: " not in received:
        chunk = await asyncio.wait_for(reader.read(4096), timeout=10)
        if not chunk:
            break
        received += chunk
    writer.close()
    await writer.wait_closed()
    return received


async def test_streams_opened_and_dropped_in_waves_free_their_descriptors_and_memory(server):
    port = int(server.base_url.rsplit(":", 1)[1])
    async with LoadClient(server.base_url, connections=1) as api:
        worker_id = (await api.post(f"/api/runtimes/{EMBEDDED}/workers", {"profile": "echo"})).json()["worker_id"]
        fds_at_start = await server.settled_fds()
        rss_after_first_wave = None
        for wave in range(WAVES):
            feeding = asyncio.gather(
                *(
                    api.post(f"/api/runtimes/{EMBEDDED}/workers/{worker_id}/input", {"content": f"w{wave}-{n}"})
                    for n in range(20)
                )
            )
            heads = await asyncio.gather(*(open_read_and_drop(port) for _ in range(STREAMS_PER_WAVE)))
            await feeding
            assert all(head.startswith(b"HTTP/1.1 200") for head in heads)
            # The api client's one connection stays open: the baseline includes it.
            assert await server.settled_fds(at_most=fds_at_start) <= fds_at_start, (
                f"wave {wave}: descriptors were not freed"
            )
            if rss_after_first_wave is None:
                rss_after_first_wave = server.rss_kib()
        rss_at_end = server.rss_kib()
    assert rss_at_end - rss_after_first_wave < RSS_GROWTH_LIMIT_KIB
    assert "Traceback" not in server.log_text()
