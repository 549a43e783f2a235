"""``/metrics`` store figures of a PostgreSQL store (issue 20; decision 0221), against a real server."""

from __future__ import annotations

import re

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
