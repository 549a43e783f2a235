"""``/metrics`` store figures of a PostgreSQL store (issue 20; decision 0221), against a real server."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from runtime_registry.host import assemble, discover_plugins, parse_config
from runtime_registry.server.app import create_app
from tests.support.asgi_client import serving

DSN_ENV = "RR_TEST_METRICS_PG_DSN"
RUNTIME = "pg-runtime"


def family(text: str, name: str) -> dict[str, float]:
    return {
        match[1]: float(match[2])
        for line in text.splitlines()
        if (match := re.fullmatch(rf"{name}\{{runtime=\"([^\"]+)\"\}} (\S+)", line))
    }


async def test_a_postgresql_store_reports_its_decisions_and_those_in_flight(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DSN_ENV, pg_dsn)
    config = parse_config(
        f'[[runtimes]]\nid = "{RUNTIME}"\nkind = "embedded"\n'
        f'[runtimes.settings.store]\nbackend = "postgres"\ndsn_env = "{DSN_ENV}"\n'
    )
    embedded = tuple(p for p in discover_plugins() if p.name == "embedded")
    async with serving(create_app(assembly=assemble(config, discovered=embedded))) as client:
        before = (await client.get("/metrics")).text
        for _ in range(3):
            answer = await client.post(f"/api/runtimes/{RUNTIME}/workers", json={})
            assert answer.status_code == 201, answer.text
        after = (await client.get("/metrics")).text
    assert family(after, "runtime_registry_store_commit_seconds_count")[RUNTIME] >= (
        family(before, "runtime_registry_store_commit_seconds_count")[RUNTIME] + 3
    )
    assert family(after, "runtime_registry_store_commit_seconds_sum")[RUNTIME] > 0
    assert family(after, "runtime_registry_store_queue_depth")[RUNTIME] == 0  # nothing in flight between requests
    assert RUNTIME not in family(after, "runtime_registry_store_bytes")  # max_store_bytes does not bound PostgreSQL


def slots(text: str) -> tuple[float, float, float, float]:
    """``(turns_running, turn_slots, inputs_waiting admission, inputs_waiting busy)`` of the runtime."""
    waiting = {
        match[1]: float(match[2])
        for line in text.splitlines()
        if (
            match := re.fullmatch(
                rf'runtime_registry_inputs_waiting\{{reason="(\w+)",runtime="{RUNTIME}"\}} (\S+)', line
            )
        )
    }
    return (
        family(text, "runtime_registry_turns_running")[RUNTIME],
        family(text, "runtime_registry_turn_slots")[RUNTIME],
        waiting["admission"],
        waiting["busy"],
    )


async def test_turn_slot_gauges_count_the_runtime_as_a_whole_on_every_replica(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two replicas (two apps on one database), ``max_concurrent_turns = 2``: each one's ``/metrics`` shows
    the runtime's turns, its line and its queues, whichever replica took the inputs (decision 0184)."""
    monkeypatch.setenv(DSN_ENV, pg_dsn)
    config = parse_config(
        f'[[runtimes]]\nid = "{RUNTIME}"\nkind = "embedded"\n'
        "[runtimes.settings]\nmax_concurrent_turns = 2\n"
        f'[runtimes.settings.store]\nbackend = "postgres"\ndsn_env = "{DSN_ENV}"\n'
        '[runtimes.settings.profiles.hold]\nbase = "builtin:echo"\nreply_delay_seconds = 60.0\n'
    )
    embedded = tuple(p for p in discover_plugins() if p.name == "embedded")
    api = f"/api/runtimes/{RUNTIME}/workers"
    async with (
        serving(create_app(assembly=assemble(config, discovered=embedded))) as a,
        serving(create_app(assembly=assemble(config, discovered=embedded))) as b,
    ):

        async def shown(expected: tuple[float, ...]) -> None:
            # Each replica's figures are its cache's: wait for it to replay the other's decisions.
            for client in (a, b):
                for _ in range(200):
                    if slots((await client.get("/metrics")).text) == expected:
                        break
                    await asyncio.sleep(0.05)
                assert slots((await client.get("/metrics")).text) == expected

        async def send(client: httpx.AsyncClient, worker_id: str, content: str, if_busy: str = "reject") -> str:
            answer = await client.post(f"{api}/{worker_id}/input", json={"content": content, "if_busy": if_busy})
            assert answer.status_code == 202, answer.text
            return str(answer.json()["status"])

        workers = []
        for _ in range(3):
            answer = await a.post(api, json={"profile": "hold"})
            assert answer.status_code == 201, answer.text
            workers.append(answer.json()["worker_id"])
        first, second, third = workers
        await shown((0, 2, 0, 0))
        assert await send(a, first, "one") == "busy"
        assert await send(b, second, "two") == "busy"
        assert await send(a, third, "three") == "queued"  # no slot: it waits in the line
        assert await send(b, first, "one more", "enqueue") == "queued"  # behind first's turn
        await shown((2, 2, 1, 1))
        # second's slot goes to third; first's queue stays behind its turn.
        assert (await b.post(f"{api}/{second}/cancel")).status_code == 200
        await shown((2, 2, 0, 1))
        # Cancelling first drops its queue (the default).
        assert (await a.post(f"{api}/{first}/cancel")).status_code == 200
        await shown((1, 2, 0, 0))
        assert (await a.post(f"{api}/{third}/stop")).status_code == 200
        await shown((0, 2, 0, 0))
