"""Live streams under a burst: every event in order, or an explicit ``cursor_expired`` — never a silent gap.

400 concurrent inputs produce about 1,600 events while six clients read the
live stream. With the default retention every stream sees every id, each one
more than the last, up to the newest. With a retention of 8 the streams fall
behind the retained window: each gets one ``cursor_expired`` event and the
end, after a gapless run of ids. A skipped id without ``cursor_expired``
never happens.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from ..support.server_process import running_server
from .api_pages import all_events
from .app_config import EMBEDDED, embedded_toml, write_config
from .load_client import LoadClient

RUNTIME = f"/api/runtimes/{EMBEDDED}"
STREAMS = 6


@pytest.fixture(params=[8, 10_000], ids=lambda retention: f"retention-{retention}")
def server(tmp_path, request):
    config = write_config(tmp_path, embedded_toml(event_retention=request.param, heartbeat_seconds=0.2))
    with running_server(config, log=tmp_path / "server.log") as served:
        yield served


Seen = list[tuple[str, str | None, str]]


async def read_stream(base_url: str, opened: asyncio.Event, quiet: asyncio.Event, seen: Seen) -> Seen:
    """Append (event name, id, data) of every event to ``seen``, until the stream ends or ``quiet`` is set."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as api:
        async with api.stream("GET", f"{RUNTIME}/events/stream") as response:
            opened.set()
            name, event_id = "message", None
            lines = response.aiter_lines()
            while True:
                next_line = asyncio.ensure_future(anext(lines, None))
                stop = asyncio.ensure_future(quiet.wait())
                done, _ = await asyncio.wait({next_line, stop}, return_when=asyncio.FIRST_COMPLETED)
                if next_line not in done:
                    next_line.cancel()
                    return seen
                stop.cancel()
                line = next_line.result()
                if line is None:
                    return seen
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("id:"):
                    event_id = line[3:].strip()
                elif line.startswith("data:"):
                    seen.append((name, event_id, line[5:].strip()))
                    name, event_id = "message", None


def caught_up(events: Seen, last_id: int) -> bool:
    return bool(events) and (events[-1][0] == "cursor_expired" or events[-1][1] == str(last_id))


async def test_a_stream_never_skips_an_event_without_saying_cursor_expired(server):
    quiet = asyncio.Event()
    opened = [asyncio.Event() for _ in range(STREAMS)]
    seen: list[Seen] = [[] for _ in range(STREAMS)]
    streams = [
        asyncio.create_task(read_stream(server.base_url, flag, quiet, mine))
        for flag, mine in zip(opened, seen, strict=False)
    ]
    await asyncio.wait_for(asyncio.gather(*(flag.wait() for flag in opened)), timeout=10)
    async with LoadClient(server.base_url, connections=200) as api:
        workers = [(await api.post(f"{RUNTIME}/workers", {"profile": "echo"})).json()["worker_id"] for _ in range(40)]
        await asyncio.gather(
            *(api.post(f"{RUNTIME}/workers/{workers[n % 40]}/input", {"content": f"n{n}"}) for n in range(400))
        )
        # The feed shows what is committed (decision 0111): wait until it is still.
        _, last_id = await all_events(api, EMBEDDED)
        while True:
            await asyncio.sleep(0.2)
            _, newest = await all_events(api, EMBEDDED)
            if newest == last_id:
                break
            last_id = newest
    # Streams that keep up reach the newest id; on a loaded machine that takes a
    # while, so wait for it (bounded) instead of for a fixed time.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while loop.time() < deadline and not all(caught_up(events, last_id) for events in seen):
        await asyncio.sleep(0.05)
    quiet.set()
    results = await asyncio.wait_for(asyncio.gather(*streams), timeout=10)

    for events in results:
        ids = [int(event_id) for name, event_id, _ in events if name != "cursor_expired"]
        assert ids == list(range(ids[0], ids[0] + len(ids))), "a stream skipped an id"
        expired = [data for name, _, data in events if name == "cursor_expired"]
        if expired:
            assert events[-1][0] == "cursor_expired" and len(expired) == 1
            assert json.loads(expired[0])["error"]["code"] == "cursor_expired"
        else:
            assert ids[-1] == last_id, "a stream that kept up missed the newest events"
