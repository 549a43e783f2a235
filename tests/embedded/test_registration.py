"""The embedded kind is a real plugin: discovered from installed metadata, configured, registered."""

from __future__ import annotations

import ast
import asyncio
import re
import tomllib
from pathlib import Path

import attrs
import pytest

from registry_core import PluginState, RuntimeStatus, unstructure
from runtime_registry.host import (
    ConfigError,
    assemble,
    discover_plugins,
    load_config,
    load_plugins,
    parse_config,
)
from runtime_registry.plugins.embedded import EmbeddedProvider
from runtime_registry.runtimes.embedded import EmbeddedSettings, ProfileBase, ProfileSettings
from runtime_registry.runtimes.embedded.settings import StoreSettings
from runtime_registry.testing.conformance import find_path_like

RUNTIME_PACKAGE = Path(__file__).resolve().parents[2] / "runtimes" / "embedded"


def embedded_only():
    return tuple(p for p in discover_plugins() if p.name == "embedded")


def test_embedded_plugin_is_found_in_the_installed_distribution_metadata():
    (found,) = embedded_only()
    assert (found.distribution, found.builtin) == ("runtime-registry", True)
    assert found.load.value == "runtime_registry.plugins.embedded"


def test_loading_the_entry_point_registers_the_embedded_kind_with_its_settings_type():
    loaded = load_plugins(embedded_only())
    (info,) = loaded.plugins
    assert (info.state, info.kinds) == (PluginState.LOADED, ("embedded",))
    kind = loaded.kind("embedded").kind
    assert kind.factory is EmbeddedProvider and kind.settings_type is EmbeddedSettings


async def test_default_configuration_serves_backend_internal_as_an_embedded_runtime():
    assembly = assemble(load_config(None), discovered=embedded_only())
    async with assembly.registry as registry:
        summary = await registry.describe_runtime("backend-internal")
    assert (summary.kind, summary.status, summary.display_name) == (
        "embedded",
        RuntimeStatus.RUNNING,
        "Backend (embedded)",
    )
    assert summary.plugin.name == "embedded"
    assert all(
        getattr(summary.capabilities, name)
        for name in (
            "list_workers",
            "get_worker",
            "create_worker",
            "send_input",
            "cancel_worker",
            "stop_worker",
            "read_transcript",
            "read_events",
            "stream_events",
        )
    )


async def test_settings_from_the_config_file_set_the_runtime_limits_and_profiles():
    config = parse_config(
        '[[runtimes]]\nid = "inside"\nkind = "embedded"\n'
        "[runtimes.settings]\nmax_workers = 7\nworker_page_max = 3\nevent_retention = 50\n"
        'default_profile = "slow"\n'
        '[runtimes.settings.profiles.slow]\nbase = "builtin:echo"\nreply_delay_seconds = 1.5\n'
    )
    assembly = assemble(config, discovered=embedded_only(), strict=True)
    async with assembly.registry as registry:
        limits = (await registry.describe_runtime("inside")).limits
        provider = registry.provider("inside")
    assert (limits.max_workers, limits.worker_page_max, limits.event_retention) == (7, 3, 50)
    book = provider.runtime.profiles
    profile = book.default
    assert (profile.name, book.replies(profile), profile.reply_delay_seconds, profile.engine) == (
        "slow",
        True,
        1.5,
        "echo",
    )
    assert book.engine(profile).name == "echo" and book.entries_per_turn(profile) == 2


@pytest.mark.parametrize(
    ("settings", "path", "message"),
    [
        ("max_workers = 0", "runtimes[0].settings.max_workers", "must be at least 1"),
        ('max_workers = "10"', "runtimes[0].settings.max_workers", "must be an integer"),
        ("max_transcript_entries = 1", "runtimes[0].settings.max_transcript_entries", "must be at least 2"),
        ("event_page_max = 0", "runtimes[0].settings.event_page_max", "must be at least 1"),
        (
            'profiles = { p = { base = "builtin:nope" } }',
            "runtimes[0].settings.profiles.p.base",
            "must be one of 'builtin:default', 'builtin:echo'",
        ),
        (
            "profiles = { p = { reply_delay_seconds = -1 } }",
            "runtimes[0].settings.profiles.p.reply_delay_seconds",
            "must be at least 0",
        ),
        ("profiles = { p = { colour = 1 } }", "runtimes[0].settings.profiles.p.colour", "unknown field"),
    ],
)
def test_bad_settings_name_the_field(settings, path, message):
    config = parse_config(f'[[runtimes]]\nid = "a"\nkind = "embedded"\n[runtimes.settings]\n{settings}\n')
    with pytest.raises(ConfigError) as caught:
        assemble(config, discovered=embedded_only(), source="ops.toml")
    assert (path, message) in [(p.path, p.message) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ('default_profile = "missing"', "default_profile: 'missing' is neither a builtin profile"),
        ("profiles = { default = {} }", "profiles: 'default' is not a usable profile name"),
        ('profiles = { "a b" = {} }', "profiles: 'a b' is not a usable profile name"),
    ],
)
def test_cross_field_setting_errors_are_reported_at_the_settings_table(settings, words):
    config = parse_config(f'[[runtimes]]\nid = "a"\nkind = "embedded"\n[runtimes.settings]\n{settings}\n')
    with pytest.raises(ConfigError) as caught:
        assemble(config, discovered=embedded_only())
    (problem,) = caught.value.problems
    assert problem.path == "runtimes[0].settings" and words in problem.message


def test_default_settings_match_the_documented_defaults():
    settings = EmbeddedSettings()
    assert (
        settings.max_workers,
        settings.max_transcript_entries,
        settings.max_input_chars,
        settings.worker_page_max,
        settings.transcript_page_max,
        settings.event_page_max,
        settings.event_retention,
        settings.default_profile,
    ) == (1000, 10_000, 65_536, 200, 500, 1000, 10_000, ProfileBase.DEFAULT.value)


async def test_summary_names_no_endpoint_token_socket_or_path(registry):
    data = unstructure(await registry.describe_runtime("rt-a"))
    assert find_path_like(data) == []
    assert not {"endpoint", "token", "socket", "url", "path"} & set(data)


def test_the_runtime_package_imports_neither_pluggy_nor_http_nor_the_registry():
    forbidden = {"pluggy", "starlette", "uvicorn", "sse_starlette", "httpx", "plugins", "server"}
    forbidden_core = {
        "runtime_registry.host.registry",
        "registry_core.hookspecs",
        "runtime_registry.host.plugin_loading",
        "registry_core.provider",
        "runtime_registry.host.assembly",
        "registry_core.kinds",
    }
    imported = set()
    for source in RUNTIME_PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
    assert not {name for name in imported if name.split(".")[0] in forbidden or name in forbidden_core}
    assert "registry_core" not in imported, "import registry_core.errors / .models, not the package's hosts"


DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def documented_embedded_defaults() -> dict[str, str]:
    section = DOCS.read_text().split("## Settings of the `embedded` kind", 1)[1].split("\n## ", 1)[0]
    section = section.split("\n### ", 1)[0]  # the store and the profiles have tables of their own
    # A setting that is off unless given is documented as "unset" (its default is None).
    rows = re.findall(r"^\| `(\w+)` \| (?:`([^`]*)`|unset[^|]*) \|", section, re.MULTILINE)
    return dict(rows)


def documented_store_defaults() -> dict[str, str]:
    section = DOCS.read_text().split("### The store", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    return dict(re.findall(r"^\| `(\w+)` \| `([^`]*)` \|", section, re.MULTILINE))


def test_every_profile_key_is_documented():
    section = DOCS.read_text().split("### Profiles and turn engines", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(\w+)` \|", section, re.MULTILINE))
    assert documented == {field.name for field in attrs.fields(ProfileSettings)}


def test_documented_defaults_are_the_settings_defaults():
    documented = documented_embedded_defaults()
    defaults = attrs.asdict(EmbeddedSettings(), value_serializer=lambda _i, _a, v: getattr(v, "value", v))
    # The store is a table of its own, documented in its own section.
    assert set(documented) | {"store"} == {field.name for field in attrs.fields(EmbeddedSettings)}
    for name, text in documented.items():
        if not text:
            assert defaults[name] is None, name
            continue
        assert tomllib.loads(f"v = {text}")["v"] == defaults[name], name


def test_documented_store_defaults_are_the_store_defaults():
    documented = documented_store_defaults()
    defaults = attrs.asdict(StoreSettings(), value_serializer=lambda _i, _a, v: getattr(v, "value", v))
    assert set(documented) == {field.name for field in attrs.fields(StoreSettings)}
    assert defaults["path"] is None and documented["path"] == "state/<runtime id>.db"
    for name in ("backend", "durability"):
        assert tomllib.loads(f"v = {documented[name]}")["v"] == defaults[name], name


def test_the_documented_example_configuration_is_valid_for_the_embedded_kind():
    example = re.search(r"## A complete example\n\n```toml\n(.*?)```", DOCS.read_text(), re.DOTALL).group(1)
    assembly = assemble(parse_config(example), discovered=embedded_only())
    summary = asyncio.run(_profiles_of(assembly.registry, "backend-internal"))
    assert "slow-echo" in summary


async def _profiles_of(registry, runtime_id: str) -> tuple[str, ...]:
    async with registry:
        return registry.provider(runtime_id).runtime.profiles.names()


@pytest.mark.parametrize(
    ("backend", "shown"),
    [
        ("memory", {"max_page_bytes": 65536, "max_store_bytes": 1048576}),
        # A SQLite store's file is bounded too, measured on the file (decision 0222).
        ("sqlite", {"max_page_bytes": 65536, "max_store_bytes": 1048576}),
    ],
)
async def test_the_summary_shows_the_byte_bounds_as_kind_specific_limits(backend, shown):
    config = parse_config(
        '[[runtimes]]\nid = "inside"\nkind = "embedded"\n'
        "[runtimes.settings]\nmax_page_bytes = 65536\nmax_store_bytes = 1048576\n"
        f'[runtimes.settings.store]\nbackend = "{backend}"\n'
    )
    assembly = assemble(config, discovered=embedded_only(), strict=True)
    async with assembly.registry as registry:
        limits = (await registry.describe_runtime("inside")).limits
    assert dict(limits.kind_specific) == shown
