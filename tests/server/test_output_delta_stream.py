"""worker.output_delta on the wire: on the live stream, in order and without an id; never in a poll."""

from __future__ import annotations

import asyncio
import types

import httpx

from registry_core import TurnEngine, TurnResult, hookimpl
from runtime_registry.host import assemble, discover_plugins, parse_config
from runtime_registry.host.plugin_loading import DiscoveredPlugin
from runtime_registry.server.app import create_app

from ..reliability.in_process_server import serving_in_a_thread

RUNTIME = "/api/runtimes/backend-internal"


async def drip(turn):
    for word in ("one", "two", "three"):
        turn.emit(word + " ")
        await asyncio.sleep(0.05)
    return TurnResult("one two three ")


def drip_plugin() -> types.ModuleType:
    @hookimpl
    def register_turn_engines(register):
        register(TurnEngine("drip", drip))

    # A module, as a real plugin is (pluggy needs plugins it can hash).
    plugin = types.ModuleType("test_engine_plugin")
    plugin.register_turn_engines = register_turn_engines  # type: ignore[attr-defined]
    return plugin


def app():
    config = parse_config(
        '[server]\nstream_heartbeat_seconds = 0.2\n[[runtimes]]\nid = "backend-internal"\nkind = "embedded"\n'
        "[runtimes.settings]\noutput_deltas_per_second = 1000\n"
        '[runtimes.settings.profiles.drip]\nengine = "drip"\n'
    )
    discovered = (*discover_plugins(), DiscoveredPlugin("drip-plugin", "1.0", "drip-dist", load=drip_plugin))
    return create_app(assembly=assemble(config, discovered=discovered, strict=True))


def read_sse(lines) -> list[dict]:
    messages, current = [], {}
    for line in lines:
        if not line:
            if current and set(current) != {""}:  # a comment alone (a heartbeat) is not a message
                messages.append(current)
            current = {}
            if messages and messages[-1].get("event") == "worker.turn_completed":
                return messages
            continue
        field, _, value = line.partition(":")
        current[field] = value.strip()
    return messages


def test_deltas_stream_between_turn_started_and_output_without_an_id_and_never_in_a_poll():
    with serving_in_a_thread(app()) as base_url, httpx.Client(base_url=base_url, timeout=10) as api:
        worker = api.post(f"{RUNTIME}/workers", json={"profile": "drip"}).json()["worker_id"]
        with api.stream("GET", f"{RUNTIME}/events/stream") as stream:
            assert api.post(f"{RUNTIME}/workers/{worker}/input", json={"content": "go"}).status_code == 202
            messages = read_sse(stream.iter_lines())
        kinds = [m["event"] for m in messages]
        first_delta, output = kinds.index("worker.output_delta"), kinds.index("worker.output")
        assert kinds.index("worker.turn_started") < first_delta < output
        deltas = [m for m in messages if m["event"] == "worker.output_delta"]
        assert all("id" not in m for m in deltas)
        assert all("id" in m for m in messages if m["event"] != "worker.output_delta")
        assert (
            "".join(httpx.Response(200, content=m["data"]).json()["data"]["text"] for m in deltas) == "one two three "
        )
        polled = api.get(f"{RUNTIME}/events", params={"limit": 1000}).json()["events"]
        assert "worker.output_delta" not in {e["type"] for e in polled}


def test_a_plugin_that_registers_only_an_engine_loads():
    with serving_in_a_thread(app()) as base_url, httpx.Client(base_url=base_url, timeout=10) as api:
        plugins = {p["name"]: p for p in api.get("/api/plugins").json()["items"]}
        assert plugins["drip-plugin"]["state"] == "loaded"


def test_two_streams_each_get_every_delta_in_order_and_a_third_opened_later_gets_the_next_turns():
    with serving_in_a_thread(app()) as base_url, httpx.Client(base_url=base_url, timeout=10) as api:
        worker = api.post(f"{RUNTIME}/workers", json={"profile": "drip"}).json()["worker_id"]
        with api.stream("GET", f"{RUNTIME}/events/stream") as one, api.stream("GET", f"{RUNTIME}/events/stream") as two:
            assert api.post(f"{RUNTIME}/workers/{worker}/input", json={"content": "go"}).status_code == 202
            seen = [read_sse(one.iter_lines()), read_sse(two.iter_lines())]
        for messages in seen:
            deltas = [
                httpx.Response(200, content=m["data"]).json()["data"]["text"]
                for m in messages
                if m.get("event") == "worker.output_delta"
            ]
            assert "".join(deltas) == "one two three "
        # Both streams gone: the fan-out closed; a new stream opens a new one and still sees deltas.
        last = seen[0][-1]["id"]
        with api.stream("GET", f"{RUNTIME}/events/stream", headers={"Last-Event-ID": last}) as three:
            assert api.post(f"{RUNTIME}/workers/{worker}/input", json={"content": "again"}).status_code == 202
            messages = read_sse(three.iter_lines())
        # Heartbeats (comments, no event) may come between: this machine is slow at times.
        assert [m.get("event") for m in messages].count("worker.output_delta") >= 1
        assert all(int(m["id"]) > int(last) for m in messages if "id" in m)
