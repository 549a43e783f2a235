"""The PostgreSQL store's settings: the issue's shape exactly, checked, and a missing variable named, never a value."""

from __future__ import annotations

import pytest

from registry_core import RuntimeStatus
from runtime_registry.host import ConfigError, assemble, discover_plugins, parse_config
from runtime_registry.runtimes.embedded.postgres import PostgresStore
from tests.support.pg_server import PgServer

RUNTIME = "backend-internal"


def embedded_only():  # type: ignore[no-untyped-def]
    return tuple(p for p in discover_plugins() if p.name == "embedded")


def config(store: str) -> str:
    return f'[[runtimes]]\nid = "{RUNTIME}"\nkind = "embedded"\n\n[runtimes.settings.store]\n{store}\n'


@pytest.mark.parametrize(
    "store, path",
    [
        ('backend = "postgres"', "runtimes[0].settings.store"),  # dsn_env is required
        ('backend = "postgres"\ndsn_env = "X"\nlease_seconds = 0.5', "runtimes[0].settings.store.lease_seconds"),
        ('backend = "postgres"\ndsn_env = "NOT A NAME"', "runtimes[0].settings.store"),
        ('backend = "postgres"\ndsn_env = "X"\npath = "a.db"', "runtimes[0].settings.store"),
        ('backend = "sqlite"\ndsn_env = "X"', "runtimes[0].settings.store"),
    ],
)
def test_bad_postgres_settings_are_config_errors_at_their_path(store: str, path: str) -> None:
    with pytest.raises(ConfigError) as raised:
        assemble(parse_config(config(store)), discovered=embedded_only(), strict=True)
    assert raised.value.problems[0].path.startswith(path)


async def test_the_issues_configuration_serves_the_runtime(
    pg_server: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNTIME_REGISTRY_PG_DSN", pg_server.dsn(pg_server.create_database()))
    text = config('backend = "postgres"\ndsn_env = "RUNTIME_REGISTRY_PG_DSN"\nlease_seconds = 10')
    assembly = assemble(parse_config(text), discovered=embedded_only(), strict=True)
    await assembly.registry.start()
    try:
        store = assembly.registry.provider(RUNTIME).runtime.store  # type: ignore[attr-defined]
        assert isinstance(store, PostgresStore) and store.db.lease_seconds == 10
        assert (await assembly.registry.describe_runtime(RUNTIME)).status is RuntimeStatus.RUNNING
    finally:
        await assembly.registry.close()


async def test_an_unset_variable_makes_the_runtime_unavailable_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RR_UNSET_PG_DSN", raising=False)
    text = config('backend = "postgres"\ndsn_env = "RR_UNSET_PG_DSN"')
    assembly = assemble(parse_config(text), discovered=embedded_only(), strict=True)
    await assembly.registry.start()
    try:
        summary = await assembly.registry.describe_runtime(RUNTIME)
        assert summary.status is RuntimeStatus.UNAVAILABLE
        assert [(d.code, d.message) for d in summary.diagnostics] == [
            ("store_unusable", "the environment variable RR_UNSET_PG_DSN (store.dsn_env) is not set")
        ]
    finally:
        await assembly.registry.close()


async def test_an_unreachable_database_at_start_is_store_unreachable_and_the_runtime_comes_up_later(
    pg_server: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RR_LATE_PG_DSN", pg_server.dsn(pg_server.create_database()))
    pg_server.stop()
    try:
        assembly = assemble(
            parse_config(config('backend = "postgres"\ndsn_env = "RR_LATE_PG_DSN"\nlease_seconds = 1')),
            discovered=embedded_only(),
            strict=True,
        )
        await assembly.registry.start()
        summary = await assembly.registry.describe_runtime(RUNTIME)
        assert summary.status is RuntimeStatus.DEGRADED
        assert [d.code for d in summary.diagnostics] == ["store_unreachable"]
    finally:
        pg_server.start()
    try:
        import asyncio

        async with asyncio.timeout(15):
            while (await assembly.registry.describe_runtime(RUNTIME)).status is not RuntimeStatus.RUNNING:
                await asyncio.sleep(0.2)
        page = await assembly.registry.list_workers(RUNTIME, limit=10)
        assert page.items == ()
    finally:
        await assembly.registry.close()
