"""A client that drops the live stream mid-replay: the server stops writing at once, and says nothing.

Issue 12, point 9: a stream opened without a cursor replays the whole
retained log; when its client went away, the replay ran on into the closed
socket and asyncio logged thousands of "socket.send() raised exception."
warnings (asyncio's loop; uvloop's transports stay silent but the replay ran on
just the same). Real sockets, a reset (not a polite close), under both
parsers and both loops.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time

import pytest

from ..support.server_process import running_server
from .app_config import EMBEDDED, embedded_toml, write_config
from .load_client import LoadClient

INPUTS = 600  # four events each: 2,400 retained events of about 2 KB
CONTENT = "x" * 2000


@pytest.fixture(
    scope="module", params=[("httptools", "uvloop"), ("h11", "asyncio")], ids=["httptools-uvloop", "h11-asyncio"]
)
def server(request, tmp_path_factory):
    parser, loop = request.param
    directory = tmp_path_factory.mktemp(f"drop-{parser}")
    settings = f'[server]\nhttp_parser = "{parser}"\nevent_loop = "{loop}"\n'
    config = write_config(directory, embedded_toml(event_retention=10_000).replace("[server]\n", settings))
    with running_server(config, log=directory / "server.log") as served:

        async def fill() -> None:
            async with LoadClient(served.base_url, connections=20) as api:
                workers = [
                    (await api.post(f"/api/runtimes/{EMBEDDED}/workers", {"profile": "echo"})).json()["worker_id"]
                    for _ in range(20)
                ]

                async def feed(worker: str) -> None:
                    for _ in range(INPUTS // len(workers)):
                        while (
                            await api.post(f"/api/runtimes/{EMBEDDED}/workers/{worker}/input", {"content": CONTENT})
                        ).status != 202:
                            await asyncio.sleep(0.001)

                await asyncio.gather(*(feed(worker) for worker in workers))

        asyncio.run(fill())
        yield served


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks of 1/100 s


def _drop_mid_replay(port: int) -> None:
    """Open the stream from the oldest event, read a little, and reset the connection."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    connection.sendall(f"GET /api/runtimes/{EMBEDDED}/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    received = b""
    while received.count(b"\nid: ") < 3:
        received += connection.recv(4096)
    # SO_LINGER 0: close with a reset, as a crashed client or a dropped network does.
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


def test_dropped_streams_stop_promptly_and_leave_the_log_quiet(server):
    port = int(server.base_url.rsplit(":", 1)[1])
    fds_before = server.open_fds()
    for _ in range(10):
        _drop_mid_replay(port)
    asyncio.run(server.settled_fds(at_most=fds_before))
    time.sleep(0.3)
    text = server.log_text()
    assert "socket.send() raised" not in text
    assert "Traceback" not in text
    assert server.open_fds() <= fds_before


def test_a_dropped_replay_costs_the_server_little(server):
    """Ten dropped replays of ~5 MB each: well under the CPU of replaying them all."""
    port = int(server.base_url.rsplit(":", 1)[1])
    before = _cpu_seconds(server.pid)
    for _ in range(10):
        _drop_mid_replay(port)
    time.sleep(0.3)
    spent = _cpu_seconds(server.pid) - before
    print(f"ten dropped replays cost the server {spent:.2f} s of CPU")
    assert spent < 1.0, f"the server spent {spent:.2f} s of CPU on ten dropped streams"
