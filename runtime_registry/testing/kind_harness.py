"""In-process harnesses for a kind's own tests: "a registry with my kind" and "an app serving my kind".

Both take the plugin module your entry point names (or any object with a
``register_runtime_kinds`` hook) and build the runtime exactly as the server
does: the plugin is loaded through the hook, the ``settings`` mapping is
structured into the kind's settings class (a bad value raises
:class:`~runtime_registry.host.config.ConfigError`, naming the field as
``check-config`` would), the kind's factory builds the provider, and the
registry starts it. The pytest plugin offers them as the fixtures
``kind_registry`` and ``kind_app`` (:mod:`runtime_registry.testing.pytest_plugin`).

Each is an async context manager, so it works under any pytest-asyncio mode
(or anyio), and everything it starts is closed when the block ends.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from runtime_registry.host.assembly import Assembly
    from runtime_registry.host.registry import RuntimeRegistry

__all__ = ["TEST_RUNTIME_ID", "registry_with_kind", "serving_kind"]

#: The runtime id the harnesses give the runtime when none is asked for.
TEST_RUNTIME_ID = "test"
#: The plugin name the harnesses load the plugin under.
TEST_PLUGIN_NAME = "plugin-under-test"


@contextlib.contextmanager
def _data_dir(data_dir: str | None) -> Iterator[str]:
    """The server's ``data_dir`` for the harness: the one given, or a new temporary directory removed afterwards."""
    if data_dir is not None:
        yield data_dir
        return
    with tempfile.TemporaryDirectory(prefix="runtime-registry-test-") as temporary:
        yield temporary


def _assemble(
    plugin: object,
    *,
    kind: str | None,
    settings: Mapping[str, Any] | None,
    runtime_ids: Sequence[str],
    token: str | None,
    data_dir: str,
) -> Assembly:
    from registry_core.models import Identifier, PluginState
    from runtime_registry.host.assembly import assemble
    from runtime_registry.host.config import PluginSettings, RegistryConfig, RuntimeConfig, ServerSettings
    from runtime_registry.host.plugin_loading import DiscoveredPlugin, load_plugins

    discovered = (DiscoveredPlugin(TEST_PLUGIN_NAME, "0", "", load=lambda: plugin),)
    if kind is None:
        loaded = load_plugins(discovered)
        info = loaded.plugins[0]
        if info.state is not PluginState.LOADED:
            raise RuntimeError(f"the plugin did not load: {info.reason}")
        if len(info.kinds) != 1:
            raise ValueError(f"the plugin registers {len(info.kinds)} kinds {list(info.kinds)}; say which with kind=")
        kind = info.kinds[0]
    config = RegistryConfig(
        server=ServerSettings(token=token, data_dir=data_dir),
        plugins=PluginSettings(),
        runtimes=tuple(
            RuntimeConfig(id=Identifier(runtime_id), kind=kind, settings=dict(settings or {}))
            for runtime_id in runtime_ids
        ),
    )
    return assemble(config, discovered=discovered, strict=True, source="<test settings>")


@contextlib.asynccontextmanager
async def registry_with_kind(
    plugin: object,
    *,
    settings: Mapping[str, Any] | None = None,
    kind: str | None = None,
    runtime_ids: Sequence[str] = (TEST_RUNTIME_ID,),
    data_dir: str | None = None,
) -> AsyncIterator[RuntimeRegistry]:
    """A started :class:`~runtime_registry.host.registry.RuntimeRegistry` with one runtime of your kind per id.

    :param plugin: the module (or object) with your ``register_runtime_kinds`` hook.
    :param settings: the runtime's ``settings`` table, as an operator writes it in TOML.
    :param kind: the kind to run, if the plugin registers more than one.
    :param runtime_ids: the runtimes to create (two, to test that they share nothing).
    :param data_dir: the server's ``data_dir`` (where kinds keep files); by
        default a new temporary directory, removed when the block ends.
    :raises ConfigError: ``settings`` do not fit the kind's settings class.
    """
    with _data_dir(data_dir) as directory:
        assembly = _assemble(
            plugin, kind=kind, settings=settings, runtime_ids=runtime_ids, token=None, data_dir=directory
        )
        async with assembly.registry:
            yield assembly.registry


@contextlib.asynccontextmanager
async def serving_kind(
    plugin: object,
    *,
    settings: Mapping[str, Any] | None = None,
    kind: str | None = None,
    runtime_id: str = TEST_RUNTIME_ID,
    token: str | None = None,
    data_dir: str | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` talking to the real HTTP app, in-process, serving one runtime of your kind.

    The app's lifespan runs (the runtime starts and, at the end, closes); the
    client's base URL is ``http://localhost`` and it sends ``token`` as a
    bearer token when one is given (the app then requires it). ``data_dir``
    is as for :func:`registry_with_kind`.

    :raises ConfigError: ``settings`` do not fit the kind's settings class.
    """
    import httpx

    from runtime_registry.server.app import create_app

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with _data_dir(data_dir) as directory:
        assembly = _assemble(
            plugin, kind=kind, settings=settings, runtime_ids=(runtime_id,), token=token, data_dir=directory
        )
        app = create_app(assembly=assembly)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost", headers=headers) as client:
                yield client
