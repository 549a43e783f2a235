"""A harness for a turn engine's own tests: the embedded runtime, serving your engine under a profile you give.

``kind_registry`` wants a runtime kind; an engine plugin registers none. This
harness loads your plugin beside the built-in ``embedded`` plugin, exactly as
the server does, and starts one embedded runtime (memory store) with one
profile, ``test``, that uses your engine with the profile keys you pass
(``model``, ``system_prompt``, ``options``, ``tools``, ``max_turn_seconds``,
...). A bad key or value raises ``ConfigError`` as ``check-config`` would, and
your engine's ``check(profile)`` runs as at startup::

    from runtime_registry.testing import engine_runtime

    async def test_shout_replies_in_capitals():
        async with engine_runtime(acme_shout.plugin, profile={"options": {"volume": 11}}) as runtime:
            worker = await runtime.create_worker()
            turn = await runtime.run_turn(worker, "hello")
            assert turn.reply == "HELLO" and turn.ended.type == "worker.turn_completed"

The pytest plugin offers it as the fixture ``engine_runtime`` (with your
``engine_plugin`` fixture as the default plugin). For a unit test of the
engine function alone, without a runtime, use :class:`~runtime_registry.testing.turn_double.FakeTurn`.

.. versionadded:: 0.4
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from registry_core.event_contract import TURN_ENDS
from registry_core.models import CreateWorkerRequest, Event, InputContent, InputRequest, ProfileSelector

from .kind_harness import TEST_PLUGIN_NAME, TEST_RUNTIME_ID, _data_dir

if TYPE_CHECKING:
    from runtime_registry.host.registry import RuntimeRegistry

__all__ = ["TEST_PROFILE", "EngineRuntime", "TurnOutcome", "engine_runtime"]

#: The profile the harness configures for your engine.
TEST_PROFILE = "test"


@dataclass
class TurnOutcome:
    """What one turn did, read back through the registry.

    :ivar events: the turn's events, from its ``worker.input_accepted`` to its end.
    :ivar ended: the end event (``worker.turn_completed``, ``_failed``, ``_cancelled``, ``_interrupted``).
    :ivar reply: the text of the turn's last ``worker.output`` (``None`` for none).
    :ivar entries: the transcript entries the turn added, as ``(role, content)``.
    """

    events: list[Event]
    ended: Event
    reply: str | None
    entries: list[tuple[str, str]] = field(default_factory=list)


class EngineRuntime:
    """The started embedded runtime serving your engine; what :func:`engine_runtime` yields."""

    def __init__(self, registry: RuntimeRegistry, runtime_id: str, *, page: int = 100) -> None:
        #: The started registry (every operation of the contract, as the server calls it).
        self.registry = registry
        #: The embedded runtime's id.
        self.runtime_id = runtime_id
        self._page = page

    async def create_worker(self, *, tools: Sequence[str] = ()) -> str:
        """A new worker on the test profile, granted ``tools`` (names the profile lists); its id."""
        request = CreateWorkerRequest(
            profile=ProfileSelector(TEST_PROFILE), capabilities=tuple(f"tool:{name}" for name in tools)
        )
        return (await self.registry.create_worker(self.runtime_id, request)).worker_id

    async def run_turn(self, worker_id: str, text: str, *, timeout: float = 10.0) -> TurnOutcome:
        """Send ``text`` and wait (up to ``timeout`` seconds) for the turn's end event; what the turn did."""
        before = (await self.registry.get_worker(self.runtime_id, worker_id)).transcript_length
        accepted = await self.registry.send_input(self.runtime_id, worker_id, InputRequest(InputContent(text)))
        events: list[Event] = []
        async with asyncio.timeout(timeout):
            while True:
                page = await self.registry.read_events(
                    self.runtime_id, worker_id=worker_id, cursor=accepted.event_id - 1, limit=self._page
                )
                events = list(page.events)
                if any(event.type in TURN_ENDS for event in events):
                    break
                await asyncio.sleep(0.005)
        ended = next(event for event in events if event.type in TURN_ENDS)
        events = events[: events.index(ended) + 1]
        outputs = [event for event in events if event.type == "worker.output"]
        transcript = await self.registry.read_transcript(self.runtime_id, worker_id, start=before + 1, limit=self._page)
        return TurnOutcome(
            events=events,
            ended=ended,
            reply=outputs[-1].data.get("content") if outputs else None,
            entries=[(entry.role, entry.content) for entry in transcript.items],
        )


@contextlib.asynccontextmanager
async def engine_runtime(
    plugin: object | None,
    *,
    engine: str | None = None,
    profile: Mapping[str, Any] | None = None,
    runtime_id: str = TEST_RUNTIME_ID,
    data_dir: str | None = None,
) -> AsyncIterator[EngineRuntime]:
    """An embedded runtime whose profile ``test`` runs your engine; closed when the block ends.

    :param plugin: the module (or object) with your ``register_turn_engines`` hook (and tools, if any);
        ``None`` for the built-in engines (``record``, ``echo``, ``llm``: name one with ``engine``).
    :param engine: the engine to run, if the plugin registers more than one.
    :param profile: more keys of the profile, as an operator writes them in TOML.
    :raises ConfigError: the profile does not fit (a typo in a key, a bad value,
        or your engine's ``check`` refused it).
    """
    from registry_core.models import Identifier, PluginState
    from runtime_registry.host.assembly import assemble
    from runtime_registry.host.config import PluginSettings, RegistryConfig, RuntimeConfig, ServerSettings
    from runtime_registry.host.plugin_loading import DiscoveredPlugin, discover_plugins, load_plugins

    # The built-in embedded plugin, found through its entry point as the server finds it.
    discovered = tuple(found for found in discover_plugins() if found.name == "embedded")
    if plugin is not None:
        discovered += (DiscoveredPlugin(TEST_PLUGIN_NAME, "0", "", load=lambda: plugin),)
    elif engine is None:
        raise ValueError("name the built-in engine to run with engine=")
    if engine is None:
        info = load_plugins(discovered[1:]).plugins[0]
        if info.state is not PluginState.LOADED:
            raise RuntimeError(f"the plugin did not load: {info.reason}")
        if len(info.engines) != 1:
            raise ValueError(
                f"the plugin registers {len(info.engines)} engines {list(info.engines)}; say which with engine="
            )
        engine = info.engines[0]
    settings = {"store": {"backend": "memory"}, "profiles": {TEST_PROFILE: {**(profile or {}), "engine": engine}}}
    with _data_dir(data_dir) as directory:
        config = RegistryConfig(
            server=ServerSettings(data_dir=directory),
            plugins=PluginSettings(),
            runtimes=(RuntimeConfig(id=Identifier(runtime_id), kind="embedded", settings=settings),),
        )
        assembly = assemble(config, discovered=discovered, strict=True, source="<test profile>")
        async with assembly.registry as registry:
            limits = (await registry.describe_runtime(runtime_id)).limits
            page = min(limits.event_page_max or 100, limits.transcript_page_max or 100)
            yield EngineRuntime(registry, runtime_id, page=page)
