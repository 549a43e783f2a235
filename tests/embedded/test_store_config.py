"""Configuring the store: data_dir, paths, backends, durability, and the factory's RuntimeContext."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from registry_core import CreateWorkerRequest, RuntimeContext, RuntimeKind, RuntimeStatus
from registry_core.kinds import accepts_context
from runtime_registry.host import (
    ConfigError,
    RegistryConfig,
    apply_environment,
    assemble,
    discover_plugins,
    parse_config,
)
from runtime_registry.plugins.embedded import EmbeddedProvider
from runtime_registry.runtimes.embedded import EmbeddedSettings, StoreSettings
from runtime_registry.runtimes.embedded.memory_store import MemoryStore
from runtime_registry.runtimes.embedded.sqlite_store import SQLiteStore

RUNTIME = "backend-internal"


def embedded_only():
    return tuple(p for p in discover_plugins() if p.name == "embedded")


async def started_assembly(config: RegistryConfig):
    assembly = assemble(config, discovered=embedded_only())
    await assembly.registry.start()
    return assembly


async def test_the_default_configuration_is_durable_under_the_working_directory(tmp_path):
    os.chdir(tmp_path)
    assembly = await started_assembly(RegistryConfig())
    provider = assembly.registry.provider(RUNTIME)
    assert isinstance(provider.runtime.store, SQLiteStore)
    assert provider.runtime.store.path == tmp_path / ".runtime-registry" / "state" / f"{RUNTIME}.db"
    assert (await assembly.registry.describe_runtime(RUNTIME)).status is RuntimeStatus.RUNNING
    await assembly.registry.close()
    assert (tmp_path / ".runtime-registry" / "state" / f"{RUNTIME}.db").is_file()


async def test_a_relative_store_path_resolves_against_data_dir_and_data_dir_against_the_working_directory(tmp_path):
    os.chdir(tmp_path)
    config = parse_config(
        '[server]\ndata_dir = "var/registry"\n\n'
        f'[[runtimes]]\nid = "{RUNTIME}"\nkind = "embedded"\n'
        'settings = { store = { path = "sessions/main.db" } }\n\n'
        '[[runtimes]]\nid = "other"\nkind = "embedded"\n'
        f'settings = {{ store = {{ path = "{tmp_path / "elsewhere" / "other.db"}" }} }}\n'
    )
    assembly = assemble(config, discovered=embedded_only())
    os.chdir("/")  # resolved at assembly: a later chdir moves nothing
    await assembly.registry.start()
    assert (
        assembly.registry.provider(RUNTIME).runtime.store.path == tmp_path / "var" / "registry" / "sessions" / "main.db"
    )
    assert assembly.registry.provider("other").runtime.store.path == tmp_path / "elsewhere" / "other.db"
    await assembly.registry.close()
    assert (tmp_path / "var" / "registry" / "sessions" / "main.db").is_file()


async def test_the_environment_overrides_data_dir(tmp_path):
    config = apply_environment(RegistryConfig(), {"RUNTIME_REGISTRY_DATA_DIR": str(tmp_path / "from-env")})
    assert config.server.data_dir == str(tmp_path / "from-env")
    assembly = await started_assembly(config)
    await assembly.registry.close()
    assert (tmp_path / "from-env" / "state" / f"{RUNTIME}.db").is_file()


async def test_the_memory_backend_writes_no_file(tmp_path):
    os.chdir(tmp_path)
    config = parse_config(
        f'[[runtimes]]\nid = "{RUNTIME}"\nkind = "embedded"\nsettings = {{ store = {{ backend = "memory" }} }}\n'
    )
    assembly = await started_assembly(config)
    assert isinstance(assembly.registry.provider(RUNTIME).runtime.store, MemoryStore)
    await assembly.registry.close()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "table, path",
    [
        ('{ durability = "sometimes" }', "runtimes[0].settings.store.durability"),
        ('{ backend = "oracle" }', "runtimes[0].settings.store.backend"),
        ('{ path = "" }', "runtimes[0].settings.store"),
        ('{ colour = "blue" }', "runtimes[0].settings.store"),
    ],
)
def test_bad_store_settings_are_config_errors_at_their_path(table, path):
    text = f'[[runtimes]]\nid = "{RUNTIME}"\nkind = "embedded"\nsettings = {{ store = {table} }}\n'
    with pytest.raises(ConfigError) as raised:
        assemble(parse_config(text), discovered=embedded_only(), strict=True)
    assert raised.value.problems[0].path.startswith(path)


def test_an_empty_data_dir_is_a_config_error():
    with pytest.raises(ConfigError) as raised:
        parse_config('[server]\ndata_dir = ""\n')
    assert raised.value.problems[0].path == "server"


def test_a_factory_gets_a_context_only_when_it_asks_for_one(tmp_path):
    calls = []

    def old_style(runtime_id, settings):
        calls.append(("old", runtime_id))
        return EmbeddedProvider(runtime_id, context=RuntimeContext(tmp_path))

    def new_style(runtime_id, settings, *, context):
        calls.append(("new", runtime_id, context.data_dir))
        return EmbeddedProvider(runtime_id, context=context)

    assert not accepts_context(old_style) and accepts_context(new_style) and not accepts_context(len)
    assert accepts_context(EmbeddedProvider)
    for factory, runtime_id in ((old_style, "a"), (new_style, "b")):
        kind = RuntimeKind(name="embedded", description="x", factory=factory)
        provider = (
            kind.factory(runtime_id, None, context=RuntimeContext(tmp_path))
            if accepts_context(factory)
            else kind.factory(runtime_id, None)
        )
        assert provider.runtime_id == runtime_id
    assert calls == [("old", "a"), ("new", "b", tmp_path)]


def test_check_config_writes_no_file(tmp_path):
    os.chdir(tmp_path)
    assemble(RegistryConfig(), discovered=embedded_only(), strict=True)
    assert not Path(tmp_path / ".runtime-registry").exists()


async def test_a_provider_built_as_a_library_writes_no_file_unless_told_where(tmp_path):
    os.chdir(tmp_path)
    provider = EmbeddedProvider("rt")
    await provider.start()
    worker = await provider.create_worker(CreateWorkerRequest())
    assert isinstance(provider.runtime.store, MemoryStore) and worker.status == "idle"
    await provider.close()
    assert list(tmp_path.iterdir()) == []  # nothing in the working directory

    told = EmbeddedProvider("rt", EmbeddedSettings(store=StoreSettings(path=str(tmp_path / "here.db"))))
    await told.start()
    assert isinstance(told.runtime.store, SQLiteStore) and told.runtime.store.path == tmp_path / "here.db"
    await told.close()
    assert (tmp_path / "here.db").is_file()
