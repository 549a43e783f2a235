"""Apps for the server tests: the real embedded runtime by default, fakes where errors need them."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator

import httpx
import pytest

from registry_core import PluginRef, RuntimeProvider
from runtime_registry.host import (
    Assembly,
    RegistryConfig,
    RuntimeRegistry,
    assemble,
    load_plugins,
    parse_config,
)
from runtime_registry.host.plugin_loading import discover_plugins

from ..support.asgi_client import serving

RUNTIME = "backend-internal"
OTHER = "second"

#: Two embedded runtimes with a slow profile (busy, cancel) and small limits.
EMBEDDED_CONFIG = textwrap.dedent(
    f"""
    [server]
    stream_heartbeat_seconds = 0.05
    max_body_bytes = 4096

    [[runtimes]]
    id = "{RUNTIME}"
    kind = "embedded"
    display_name = "Backend (embedded)"
    [runtimes.settings]
    max_workers = 50
    max_input_chars = 100
    event_retention = 1000
    [runtimes.settings.profiles.slow]
    base = "builtin:echo"
    reply_delay_seconds = 30.0

    [[runtimes]]
    id = "{OTHER}"
    kind = "embedded"
    settings = {{ max_workers = 1, event_retention = 3, transcript_page_max = 5 }}
    """
)

_DISCOVERED = discover_plugins()


def embedded_assembly(text: str = EMBEDDED_CONFIG) -> Assembly:
    """The real plugins and runtimes of a TOML config."""
    return assemble(parse_config(text), discovered=_DISCOVERED)


def fake_assembly(
    *providers: RuntimeProvider, config: RegistryConfig | None = None, call_timeout: float = 5.0
) -> Assembly:
    """A registry of hand-made providers (no plugins)."""
    registry = RuntimeRegistry(call_timeout=call_timeout)
    for provider in providers:
        registry.register(provider, plugin=PluginRef("fakes", "0.0.1"))
    return Assembly(registry=registry, plugins=load_plugins(()), config=config or RegistryConfig(runtimes=()))


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app over two embedded runtimes (see EMBEDDED_CONFIG)."""
    from runtime_registry.server.app import create_app

    async with serving(create_app(assembly=embedded_assembly())) as client:
        yield client


async def create_worker(client: httpx.AsyncClient, runtime_id: str = RUNTIME, **body: object) -> str:
    """Create a worker and return its id."""
    response = await client.post(f"/api/runtimes/{runtime_id}/workers", json=body)
    assert response.status_code == 201, response.text
    return response.json()["worker_id"]


def error_of(response: httpx.Response) -> tuple[int, str]:
    """The status and error code of an error response."""
    return response.status_code, response.json()["error"]["code"]
