"""Non-reading clients of the largest pages pin about one page each, not a whole log (issue 12, point 1).

Against ``runtime-registry serve`` with its default page bounds: a worker's
transcript and the runtime's event log hold 40 inputs of 65,536 emoji (256 KiB
each as UTF-8) and their echoes — a 20 MB page by count alone. Six clients
ask for the largest page there is and never read the answer; the server's
resident memory may grow by under 50 MiB (the goal of the issue), and each
page a reading client gets holds at most ``max_page_bytes`` of JSON.
"""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from ..support.server_process import running_server
from .app_config import EMBEDDED, embedded_toml, write_config
from .load_client import LoadClient

RUNTIME = f"/api/runtimes/{EMBEDDED}"
INPUTS = 40
CONTENT = "\U0001f600" * 65_536
MAX_PAGE_BYTES = 1_048_576  # the default
CLIENTS = 6
GROWTH_LIMIT_KIB = 50 * 1024


class Filled:
    """The server and the worker whose transcript holds the inputs."""

    def __init__(self, served, worker: str) -> None:
        self.served, self.worker = served, worker
        self.base_url = served.base_url

    def rss_kib(self) -> int:
        return self.served.rss_kib()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("page-memory")
    config = write_config(directory, embedded_toml())
    with running_server(config, log=directory / "server.log") as served:

        async def fill() -> str:
            async with LoadClient(served.base_url, connections=4) as api:
                worker = (await api.post(f"{RUNTIME}/workers", {"profile": "echo"})).json()["worker_id"]
                for _ in range(INPUTS):
                    while (
                        reply := await api.post(f"{RUNTIME}/workers/{worker}/input", {"content": CONTENT})
                    ).status == 409:
                        await asyncio.sleep(0.005)
                    assert reply.status == 202, reply.body[:200]
                while (await api.get(f"{RUNTIME}/workers/{worker}")).json()["status"] != "idle":
                    await asyncio.sleep(0.01)
                return worker

        yield Filled(served, asyncio.run(fill()))


def _page_path(server, which: str) -> str:
    if which == "events":
        return f"{RUNTIME}/events?cursor=0&limit=1000"
    return f"{RUNTIME}/workers/{server.worker}/transcript?start=1&limit=500"


async def _read_all_pages(server, which: str) -> list[int]:
    """Read every page of ``which`` as a client does; the byte size of each page."""
    sizes, items = [], 0
    async with LoadClient(server.base_url, connections=1) as api:
        path = _page_path(server, which)
        while True:
            reply = await api.get(path)
            assert reply.status == 200
            sizes.append(len(reply.body))
            page = reply.json()
            if which == "events":
                items += len(page["events"])
                if not page["has_more"]:
                    break
                path = f"{RUNTIME}/events?cursor={page['next_cursor']}&limit=1000"
            else:
                items += len(page["items"])
                if page["next_start"] is None:
                    break
                path = f"{RUNTIME}/workers/{server.worker}/transcript?start={page['next_start']}&limit=500"
    expected = INPUTS * 2 if which == "transcript" else INPUTS * 4 + 1
    assert items == expected, "paging by bytes lost or repeated items"
    return sizes


@pytest.mark.parametrize("which", ["events", "transcript"])
def test_every_page_holds_at_most_max_page_bytes(server, which):
    sizes = asyncio.run(_read_all_pages(server, which))
    assert len(sizes) > 1, "the pages should have been cut by bytes"
    assert max(sizes) <= MAX_PAGE_BYTES + 1024  # the page's own envelope on top of its items


@pytest.mark.parametrize("which", ["events", "transcript"])
def test_six_clients_that_never_read_the_largest_page_pin_under_50_mib(server, which):
    port = int(server.base_url.rsplit(":", 1)[1])
    request = f"GET {_page_path(server, which)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    before = server.rss_kib()
    clients = []
    try:
        for _ in range(CLIENTS):
            client = socket.socket()
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            client.connect(("127.0.0.1", port))
            client.sendall(request)
            clients.append(client)
        time.sleep(1.5)  # the server builds and writes what it can
        growth = server.rss_kib() - before
    finally:
        for client in clients:
            client.close()
    print(f"{which}: six non-reading clients added {growth / 1024:.1f} MiB of RSS")
    assert growth < GROWTH_LIMIT_KIB
