"""A runtime that hangs or raises under load costs its own requests, never the other runtimes'.

Three runtimes in one server: the embedded one, one whose every call hangs
forever, and one whose every call raises. Under a concurrent mix of requests
to all three, the hanging runtime's answers are ``504 runtime_timeout`` once
the call timeout passes, the raising one's are ``503 runtime_unavailable``,
and every request to the embedded runtime is answered as usual — none of
them waits for the hung calls.
"""

from __future__ import annotations

import asyncio
import collections

import attrs
import pytest

from registry_core import RuntimeKind, RuntimeProvider, hookimpl
from runtime_registry.host import assemble, discover_plugins, parse_config
from runtime_registry.host.plugin_loading import DiscoveredPlugin
from runtime_registry.server.app import create_app

from .app_config import EMBEDDED, embedded_toml
from .in_process_server import serving_in_a_thread
from .load_client import LoadClient

# Long enough that 180 healthy answers come before it on a loaded 2-core machine: the test is about
# order (healthy answers never wait for the hung calls), not about how short the timeout can be.
CALL_TIMEOUT = 4.0


class HangingProvider(RuntimeProvider):
    kind = "hanging"

    async def _hang(self, *args, **kwargs):
        await asyncio.Event().wait()

    list_workers = get_worker = create_worker = send_input = read_events = _hang  # type: ignore[assignment]


class RaisingProvider(RuntimeProvider):
    kind = "raising"

    async def _raise(self, *args, **kwargs):
        raise RuntimeError("boom")

    list_workers = get_worker = create_worker = send_input = read_events = _raise  # type: ignore[assignment]


class FaultyPlugin:
    @hookimpl
    def register_runtime_kinds(self, register):
        register(RuntimeKind("hanging", "every call hangs", lambda runtime_id, _settings: HangingProvider(runtime_id)))
        register(RuntimeKind("raising", "every call raises", lambda runtime_id, _settings: RaisingProvider(runtime_id)))


@pytest.fixture(scope="module")
def base_url():
    config = parse_config(
        embedded_toml()
        + '[[runtimes]]\nid = "hanging"\nkind = "hanging"\n\n[[runtimes]]\nid = "raising"\nkind = "raising"\n'
    )
    config = attrs.evolve(config, server=attrs.evolve(config.server, call_timeout_seconds=CALL_TIMEOUT))
    plugins = (*discover_plugins(), DiscoveredPlugin("faulty", "0.1", "faulty-dist", FaultyPlugin))
    with serving_in_a_thread(create_app(assembly=assemble(config, discovered=plugins))) as url:
        yield url


async def test_hung_and_failing_runtimes_do_not_hold_up_the_healthy_one(base_url):
    async with LoadClient(base_url, connections=300) as api:
        worker_id = (await api.post(f"/api/runtimes/{EMBEDDED}/workers", {"profile": "echo"})).json()["worker_id"]

        finished: list[str] = []

        async def one(runtime_id: str, n: int):
            if n % 3 == 0:
                reply = await api.get(f"/api/runtimes/{runtime_id}/workers")
            elif n % 3 == 1:
                reply = await api.get(f"/api/runtimes/{runtime_id}/workers/{worker_id}")
            else:
                reply = await api.get(f"/api/runtimes/{runtime_id}/events")
            finished.append(runtime_id)
            return runtime_id, reply

        requests = (
            [("hanging", n) for n in range(60)]
            + [("raising", n) for n in range(60)]
            + [(EMBEDDED, n) for n in range(180)]
        )
        results = await asyncio.gather(*(one(runtime_id, n) for runtime_id, n in requests))

    outcomes = collections.Counter((runtime_id, reply.status, reply.error_code) for runtime_id, reply in results)
    assert outcomes == {
        ("hanging", 504, "runtime_timeout"): 60,
        ("raising", 503, "runtime_unavailable"): 60,
        (EMBEDDED, 200, None): 180,
    }
    # Nothing healthy waited for a hung call: every healthy answer came before the first timeout.
    assert finished.index("hanging") > max(i for i, runtime_id in enumerate(finished) if runtime_id == EMBEDDED)
