"""A front's event stream: live deltas relayed in order, and a back that restarts never ends it (decision 0171).

Real processes: a back server (embedded runtimes; an ``llm`` profile on a
fake OpenAI-compatible server on loopback, for streamed deltas) and a front
server whose runtime ``gpu`` is the back's ``back-a``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator

import httpx
import pytest

from ..engines.openai_server import openai_server
from ..support.remote_servers import back_config, front_config, server_on_port
from ..support.server_process import ServerProcess, free_port, running_server
from ..support.sse_stream import streaming
from ..support.tcp_proxy import TcpRelay

KEY_ENV = "FRONT_STREAM_TEST_KEY"


def llm_profile(api_base: str) -> str:
    return (
        "[runtimes.settings]\noutput_deltas_per_second = 1000\n"
        f'[runtimes.settings.profiles.model]\nengine = "llm"\nmodel = "local-model"\napi_base = "{api_base}"\n'
        f'key_env = "{KEY_ENV}"\n'
    )


def delta_text(messages: list[dict[str, str]]) -> str:
    return "".join(json.loads(m["data"])["data"]["text"] for m in messages if m["event"] == "worker.output_delta")


@contextlib.contextmanager
def llm_back(tmp_path) -> Iterator[ServerProcess]:
    """A back server whose runtime ``back-a`` has the ``llm`` profile ``model`` on a fake OpenAI server."""
    with openai_server() as model:
        back_path = back_config(tmp_path, store="memory", extra="")
        # The llm profile goes in back-a's settings table (the first runtime).
        text = back_path.read_text().replace('kind = "embedded"\n[runtimes.settings]\n', 'kind = "embedded"\n', 1)
        text = text.replace('kind = "embedded"\n', 'kind = "embedded"\n' + llm_profile(model.base_url), 1)
        back_path.write_text(text)
        with running_server(back_path, log=tmp_path / "back.log", environ={KEY_ENV: "k"}) as back:
            yield back


async def one_turn_seen_both_ways(front_url: str, back_url: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """One streamed turn of a new ``model`` worker: the front's stream of ``gpu`` and the back's of ``back-a``."""
    async with (
        httpx.AsyncClient(base_url=front_url, timeout=30) as raw,
        httpx.AsyncClient(base_url=back_url, timeout=30) as direct,
    ):
        worker = (await raw.post("/api/runtimes/gpu/workers", json={"profile": "model"})).json()
        async with (
            streaming(raw, "/api/runtimes/gpu/events/stream") as through,
            streaming(direct, "/api/runtimes/back-a/events/stream") as remote,
        ):
            await asyncio.sleep(0.5)  # both streams and the relay are open
            sent = await raw.post(
                f"/api/runtimes/gpu/workers/{worker['worker_id']}/input", json={"content": "three little words"}
            )
            assert sent.status_code == 202
            for stream in (through, remote):
                await stream.until(lambda s: s.events("worker.turn_completed"))
        return through.events(), remote.events()


def assert_deltas_in_order(through: list[dict[str, str]], remote: list[dict[str, str]]) -> None:
    kinds = [m["event"] for m in through]
    assert "worker.output_delta" in kinds
    first_delta = kinds.index("worker.output_delta")
    assert kinds.index("worker.turn_started") < first_delta < kinds.index("worker.output")
    deltas = [m for m in through if m["event"] == "worker.output_delta"]
    assert all("id" not in m for m in deltas)  # live: never a resume point
    assert delta_text(through) == delta_text(remote) == "echo: three little words"
    output = json.loads(next(m for m in through if m["event"] == "worker.output")["data"])
    assert output["data"]["content"] == delta_text(through)
    # Each delta carries the id of the stored event it follows, and comes after it.
    last_stored = 0
    for message in through:
        data = json.loads(message["data"])
        if "id" in message:
            last_stored = int(message["id"])
        else:
            assert data["id"] == last_stored


async def test_live_deltas_of_a_remote_llm_worker_reach_the_front_stream_in_order(tmp_path):
    with llm_back(tmp_path) as back:
        front_path = front_config(tmp_path, [("gpu", back.base_url, "back-a")])
        with running_server(front_path, log=tmp_path / "front.log") as front:
            through, remote = await one_turn_seen_both_ways(front.base_url, back.base_url)
    assert_deltas_in_order(through, remote)


async def test_deltas_stay_in_order_when_the_relay_runs_behind_the_reads(tmp_path):
    # The front reads stored events over plain calls and gets live ones over the
    # remote's stream: here the stream's bytes arrive 0.3 s late, so the reads
    # are ahead of the relay for the whole turn (the deltas came after the
    # turn's last stored event before the reads waited for the relay).
    with llm_back(tmp_path) as back:
        port = int(back.base_url.rsplit(":", 1)[1])
        async with TcpRelay(port) as relay:
            relay.stream_lag = 0.3
            front_path = front_config(tmp_path, [("gpu", relay.base_url, "back-a")])
            with running_server(front_path, log=tmp_path / "front.log") as front:
                through, remote = await one_turn_seen_both_ways(front.base_url, back.base_url)
    assert_deltas_in_order(through, remote)


@pytest.mark.parametrize(
    ("how", "store", "kept"),
    [
        ("restart", "sqlite", True),
        # The committed feed (issue 17): a reader saw only committed events, so a crash keeps them all.
        ("crash", "sqlite", True),
        # A memory back loses its log in a crash: the front says cursor_expired, as the back does.
        ("crash", "memory", False),
    ],
)
async def test_a_front_stream_outlives_the_back_going_away_and_resumes_where_it_was(tmp_path, how, store, kept):
    port = free_port()
    config = back_config(tmp_path, store=store)
    url = f"http://127.0.0.1:{port}"
    front_path = front_config(tmp_path, [("gpu", url, "back-a")], timeout_seconds=1.0, refresh_seconds=0.5)
    with server_on_port(port, config, log=tmp_path / "back.log") as back:
        with running_server(front_path, log=tmp_path / "front.log") as front:
            async with (
                httpx.AsyncClient(base_url=front.base_url, timeout=30) as raw,
                httpx.AsyncClient(base_url=url, timeout=30) as direct,
            ):
                first = (await raw.post("/api/runtimes/gpu/workers", json={})).json()["worker_id"]
                async with streaming(raw, "/api/runtimes/gpu/events/stream") as through:
                    await through.until(lambda s: s.events("worker.created"))
                    seen = int(through.events()[-1]["id"])
                    if how == "crash":
                        back.process.kill()
                        back.process.wait()
                    else:
                        back.signal(__import__("signal").SIGTERM)
                        assert back.wait(timeout=15) == 0
                    await asyncio.sleep(1.5)  # the front's stream waits through it: heartbeats only
                    assert not through.events("error")
                    with server_on_port(port, config, log=tmp_path / "back.log"):
                        # What a client resuming at `seen` directly on the back would get now.
                        async with streaming(
                            direct, "/api/runtimes/back-a/events/stream", headers={"Last-Event-ID": str(seen)}
                        ) as verdict:
                            await asyncio.sleep(1.0)
                        # The back's own answer to a client at `seen` is the rule the front follows.
                        assert bool(verdict.events("cursor_expired")) is not kept
                        if not kept:
                            # The back lost the events after `seen`: the front says so, as the
                            # back does — never an error.
                            await through.until(lambda s: s.events("cursor_expired"))
                        else:
                            second = (await raw.post("/api/runtimes/gpu/workers", json={})).json()["worker_id"]
                            await through.until(
                                lambda s: any(json.loads(m["data"]).get("worker_id") == second for m in s.events())
                            )
                            ids = [int(m["id"]) for m in through.events() if "id" in m]
                            assert ids == sorted(set(ids))  # nothing twice, in order
                            created = [json.loads(m["data"])["worker_id"] for m in through.events("worker.created")]
                            assert created == [first, second]
                        assert not through.events("error")
