"""Fault isolation seen over HTTP: broken plugins and misbehaving runtimes never take the server down.

One app serves the real ``embedded`` plugin next to plugins that fail in
every way the issue lists: an import that fails, a hook that raises, a kind
name another plugin already took, a provider whose factory or ``start``
raises, one that raises or hangs on a call, one that returns malformed data.
Each test asserts what clients see: a typed error (never a 500), the others
serving, and no exception text or path anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import types
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import attrs
import httpx
import pytest

from registry_core import (
    CreateWorkerRequest,
    RuntimeKind,
    RuntimeProvider,
    RuntimeState,
    Worker,
    WorkerPage,
    hookimpl,
)
from runtime_registry.host import Assembly, assemble, parse_config
from runtime_registry.host.plugin_loading import DiscoveredPlugin, discover_plugins
from runtime_registry.testing.conformance import find_path_like

pytest.importorskip("runtime_registry.server.app", reason="the server app factory does not exist yet")
from runtime_registry.server.app import create_app
from tests.support.asgi_client import serving as serving_app

#: What every broken plugin and provider puts in its exceptions. No response may show any of it.
SECRET = "/opt/acme/secrets/key.pem password=hunter2"
CREATED = datetime(2026, 1, 1, tzinfo=UTC)
#: Short, so the hanging runtime times out quickly; long enough for the embedded runtime's answers.
CALL_TIMEOUT = 0.25


# -- providers -------------------------------------------------------------------------


class OneWorkerProvider(RuntimeProvider):
    """Lists and gets one worker, ``w1``: the base the misbehaving providers change one thing of."""

    kind = "one-worker"

    def worker(self) -> Worker:
        return Worker(self.runtime_id, "w1", self.kind, None, "idle", None, None, CREATED, 0)

    async def list_workers(self, *, limit: int, cursor: str | None) -> WorkerPage:
        return WorkerPage(self.runtime_id, (self.worker(),))

    async def get_worker(self, worker_id: str) -> Worker:
        return self.worker()


class FailsToStart(OneWorkerProvider):
    kind = "fails-to-start"

    async def start(self) -> None:
        raise ConnectionError(SECRET)


class RaisesOnCalls(OneWorkerProvider):
    kind = "raises-on-calls"

    async def get_worker(self, worker_id: str) -> Worker:
        raise OSError(SECRET)

    async def list_workers(self, *, limit: int, cursor: str | None) -> WorkerPage:
        raise KeyError(SECRET)

    async def create_worker(self, request: CreateWorkerRequest) -> Worker:
        raise RuntimeError(SECRET)


class Hangs(OneWorkerProvider):
    kind = "hangs"

    async def get_worker(self, worker_id: str) -> Worker:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class HangsInDescribe(OneWorkerProvider):
    kind = "hangs-in-describe"

    async def describe(self) -> RuntimeState:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class ReturnsMalformedData(OneWorkerProvider):
    kind = "returns-malformed-data"

    async def get_worker(self, worker_id: str):  # type: ignore[override]
        return {"worker_id": worker_id, "path": SECRET}

    async def list_workers(self, *, limit: int, cursor: str | None) -> WorkerPage:
        # A worker that claims to live in another runtime.
        return WorkerPage(self.runtime_id, (attrs.evolve(self.worker(), runtime_id="someone-else"),))

    async def create_worker(self, request: CreateWorkerRequest) -> Worker:
        # The right model, of the wrong kind.
        return attrs.evolve(self.worker(), kind="embedded")


def factory_raising(runtime_id: str, settings: object) -> RuntimeProvider:
    raise ValueError(SECRET)


# -- plugins ---------------------------------------------------------------------------------


def plugin(name: str, hook: Callable[[Callable[[RuntimeKind], None]], None], version: str = "1.0") -> DiscoveredPlugin:
    """An in-process plugin (a module object) whose ``register_runtime_kinds`` hook runs ``hook(register)``."""
    module = types.ModuleType(f"fake_{name.replace('-', '_')}")

    def register_runtime_kinds(register: Callable[[RuntimeKind], None]) -> None:
        hook(register)

    module.register_runtime_kinds = hookimpl(register_runtime_kinds)  # type: ignore[attr-defined]
    return DiscoveredPlugin(name, version, f"acme-{name}", load=lambda: module)


def kinds_plugin(name: str, *providers: type[RuntimeProvider]) -> DiscoveredPlugin:
    """A plugin registering one kind per provider class."""

    def register(register_kind):
        for provider in providers:
            register_kind(
                RuntimeKind(
                    name=provider.kind,
                    description=f"{provider.kind} test kind",
                    factory=lambda rid, _s, p=provider: p(rid),
                )
            )

    return plugin(name, register)


def failing_import() -> object:
    raise ImportError(f"cannot import name 'x' from {SECRET}")


def raising_hook(register) -> None:
    raise RuntimeError(SECRET)


def raising_factory_kind(register) -> None:
    register(RuntimeKind(name="raising-factory", description="its factory raises", factory=factory_raising))


def usurping_embedded(register) -> None:
    register(
        RuntimeKind(
            name="embedded", description="takes the built-in's name", factory=lambda rid, _s: OneWorkerProvider(rid)
        )
    )


PLUGINS = (
    DiscoveredPlugin("broken-import", "1.0", "acme-broken-import", load=failing_import),
    plugin("raising-hook", raising_hook),
    plugin("usurper", usurping_embedded),
    plugin("raising-factory", raising_factory_kind),
    kinds_plugin("misbehaving", FailsToStart, RaisesOnCalls, Hangs, HangsInDescribe, ReturnsMalformedData),
)

CONFIG = f"""
[server]
call_timeout_seconds = {CALL_TIMEOUT}

# The memory store: starting SQLite took longer than the short call timeout (which bounds a start
# too) on a loaded machine, and these tests are about the misbehaving runtimes beside it.
[[runtimes]]
id = "backend-internal"
kind = "embedded"
[runtimes.settings.store]
backend = "memory"

[[runtimes]]
id = "cold"
kind = "fails-to-start"

[[runtimes]]
id = "raising"
kind = "raises-on-calls"

[[runtimes]]
id = "hanging"
kind = "hangs"

[[runtimes]]
id = "malformed"
kind = "returns-malformed-data"

[[runtimes]]
id = "no-factory"
kind = "raising-factory"

[[runtimes]]
id = "orphan"
kind = "only-the-raising-hook-knew"
"""


def fault_assembly() -> Assembly:
    builtin = tuple(p for p in discover_plugins() if p.name == "embedded")
    return assemble(parse_config(CONFIG), discovered=builtin + PLUGINS)


def serving() -> contextlib.AbstractAsyncContextManager[httpx.AsyncClient]:
    return serving_app(create_app(assembly=fault_assembly()))


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    async with serving() as client:
        yield client


def error_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def assert_nothing_leaks(response: httpx.Response) -> None:
    assert "hunter2" not in response.text and "secrets" not in response.text
    assert find_path_like(response.json()) == []


# -- plugins that fail to load -----------------------------------------------------------------


async def test_api_plugins_reports_each_broken_plugin_as_failed_with_a_one_line_reason(api):
    response = await api.get("/api/plugins")
    states = {p["name"]: (p["state"], p["reason"]) for p in response.json()["items"]}
    assert states["broken-import"] == ("failed", "import failed (ImportError)")
    assert states["raising-hook"] == ("failed", "register_runtime_kinds raised (RuntimeError)")
    assert states["usurper"] == ("failed", "runtime kind 'embedded' is already registered by plugin 'embedded'")
    assert states["embedded"] == ("loaded", None)
    assert states["misbehaving"] == ("loaded", None)
    assert_nothing_leaks(response)


async def test_the_builtin_kind_keeps_its_name_against_a_usurper(api):
    created = await api.post("/api/runtimes/backend-internal/workers", json={})
    assert created.status_code == 201
    assert created.json()["kind"] == "embedded" and created.json()["worker_id"] != "w1"


async def test_a_runtime_whose_kind_no_loaded_plugin_provides_is_unavailable(api):
    summary = (await api.get("/api/runtimes/orphan")).json()
    assert summary["status"] == "unavailable"
    assert error_of(await api.get("/api/runtimes/orphan/workers")) == (503, "runtime_unavailable")


# -- runtimes that fail -----------------------------------------------------------------------------


async def test_a_runtime_whose_factory_raises_is_unavailable_and_says_so_without_the_exception(api):
    response = await api.get("/api/runtimes/no-factory")
    assert response.json()["status"] == "unavailable"
    assert [d["message"] for d in response.json()["diagnostics"]] == ["the runtime could not be created"]
    assert_nothing_leaks(response)


async def test_a_runtime_that_fails_to_start_is_unavailable_while_the_others_serve(api):
    cold = await api.get("/api/runtimes/cold/workers")
    assert error_of(cold) == (503, "runtime_unavailable")
    assert_nothing_leaks(cold)
    assert (await api.get("/api/runtimes/cold")).json()["status"] == "unavailable"
    assert (await api.post("/api/runtimes/backend-internal/workers", json={})).status_code == 201


async def test_a_runtime_that_raises_answers_503_without_the_exception_text(api):
    for response in (
        await api.get("/api/runtimes/raising/workers/w1"),
        await api.get("/api/runtimes/raising/workers"),
        await api.post("/api/runtimes/raising/workers", json={}),
    ):
        assert error_of(response) == (503, "runtime_unavailable")
        assert_nothing_leaks(response)


async def test_a_runtime_that_returns_malformed_data_answers_a_typed_error(api):
    for response in (
        await api.get("/api/runtimes/malformed/workers/w1"),
        await api.get("/api/runtimes/malformed/workers"),
        await api.post("/api/runtimes/malformed/workers", json={}),
    ):
        assert error_of(response) == (503, "runtime_unavailable")
        assert_nothing_leaks(response)


async def test_a_runtime_that_hangs_answers_504(api):
    response = await api.get("/api/runtimes/hanging/workers/w1")
    assert error_of(response) == (504, "runtime_timeout")
    assert_nothing_leaks(response)


class HeldUntilReleased(OneWorkerProvider):
    """``get_worker`` waits until the test releases it: a hang whose end the test decides, not a clock."""

    kind = "held"

    async def start(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def get_worker(self, worker_id: str) -> Worker:
        self.entered.set()
        await self.release.wait()
        return self.worker()


async def test_other_runtimes_answer_while_one_hangs():
    # A long call timeout: the held call cannot end by itself during the test,
    # so the other answers arriving first shows concurrency, not a race.
    config = CONFIG.replace(f"call_timeout_seconds = {CALL_TIMEOUT}", "call_timeout_seconds = 60")
    config += '\n[[runtimes]]\nid = "held"\nkind = "held"\n'
    builtin = tuple(p for p in discover_plugins() if p.name == "embedded")
    assembly = assemble(
        parse_config(config), discovered=builtin + PLUGINS + (kinds_plugin("held-plugin", HeldUntilReleased),)
    )
    app = create_app(assembly=assembly)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as api:
            held = asyncio.ensure_future(api.get("/api/runtimes/held/workers/w1"))
            provider = assembly.registry.provider("held")
            await asyncio.wait_for(provider.entered.wait(), 10)  # the held call is inside the runtime now
            created = await api.post("/api/runtimes/backend-internal/workers", json={})
            listed = await api.get("/api/runtimes/backend-internal/workers")
            health = await api.get("/healthz")
            assert not held.done()
            assert (created.status_code, listed.status_code, health.status_code) == (201, 200, 200)
            provider.release.set()
            assert (await held).status_code == 200


async def test_the_runtime_list_answers_with_a_hanging_runtime_marked_unavailable():
    # An app of its own: the hanging describe also slows the startup log by one call timeout.
    config = CONFIG + '\n[[runtimes]]\nid = "mute"\nkind = "hangs-in-describe"\n'
    builtin = tuple(p for p in discover_plugins() if p.name == "embedded")
    app = create_app(assembly=assemble(parse_config(config), discovered=builtin + PLUGINS))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as client:
            response = await client.get("/api/runtimes")
    assert response.status_code == 200
    statuses = {r["runtime_id"]: r["status"] for r in response.json()["items"]}
    assert (statuses["mute"], statuses["backend-internal"]) == ("unavailable", "running")
    assert_nothing_leaks(response)


async def test_the_worker_overview_reports_failing_runtimes_as_diagnostics(api):
    await api.post("/api/runtimes/backend-internal/workers", json={})
    response = await api.get("/api/workers")
    assert response.status_code == 200
    body = response.json()
    assert {w["runtime_id"] for w in body["items"]} == {"backend-internal", "hanging"}
    failing = ("cold", "raising", "malformed", "no-factory", "orphan")
    for runtime_id in failing:
        assert any(f"'{runtime_id}'" in d["message"] for d in body["diagnostics"]), runtime_id
    assert {d["code"] for d in body["diagnostics"]} == {"runtime_unavailable"}
    assert_nothing_leaks(response)


async def test_the_server_is_healthy_after_every_failure(api):
    for path in (
        "/api/runtimes/raising/workers/w1",
        "/api/runtimes/malformed/workers/w1",
        "/api/runtimes/cold/workers",
    ):
        await api.get(path)
    assert (await api.get("/healthz")).status_code == 200
    assert (await api.get("/api/runtimes/backend-internal")).json()["status"] == "running"


class HangsOnStart(OneWorkerProvider):
    kind = "hangs-on-start"

    async def start(self) -> None:
        await asyncio.Event().wait()


def twin(name: str) -> DiscoveredPlugin:
    """A third-party plugin registering the kind ``twin``, as every twin does."""
    return plugin(
        name,
        lambda register: register(
            RuntimeKind(name="twin", description=name, factory=lambda rid, _s: OneWorkerProvider(rid))
        ),
    )


async def plugin_states(discovered: tuple[DiscoveredPlugin, ...]) -> dict[str, tuple[str, str | None]]:
    async with serving_app(
        create_app(assembly=assemble(parse_config("runtimes = []\n"), discovered=discovered))
    ) as client:
        items = (await client.get("/api/plugins")).json()["items"]
    return {p["name"]: (p["state"], p["reason"]) for p in items}


async def test_a_kind_conflict_between_third_parties_is_decided_by_plugin_name_whatever_the_discovery_order():
    twins = (twin("twin-b"), twin("twin-a"), twin("twin-c"))
    forward, backward = await plugin_states(twins), await plugin_states(twins[::-1])
    assert forward == backward
    assert forward == {
        "twin-a": ("loaded", None),
        "twin-b": ("failed", "runtime kind 'twin' is already registered by plugin 'twin-a'"),
        "twin-c": ("failed", "runtime kind 'twin' is already registered by plugin 'twin-a'"),
    }


async def test_a_runtime_whose_start_hangs_is_unavailable_and_the_server_starts_without_it():
    config = CONFIG + '\n[[runtimes]]\nid = "stuck"\nkind = "hangs-on-start"\n'
    builtin = tuple(p for p in discover_plugins() if p.name == "embedded")
    discovered = builtin + PLUGINS + (kinds_plugin("stuck-plugin", HangsOnStart),)
    async with serving_app(create_app(assembly=assemble(parse_config(config), discovered=discovered))) as client:
        stuck = await client.get("/api/runtimes/stuck")
        created = await client.post("/api/runtimes/backend-internal/workers", json={})
    assert stuck.json()["status"] == "unavailable"
    assert [d["message"] for d in stuck.json()["diagnostics"]] == ["the runtime did not start in time"]
    assert created.status_code == 201


async def test_what_clients_do_not_see_goes_to_the_log_for_the_operator(api, caplog):
    with caplog.at_level("ERROR"):
        await api.get("/api/runtimes/raising/workers/w1")
    assert "hunter2" in caplog.text and "OSError" in caplog.text


class ReturnsUnrenderableData(OneWorkerProvider):
    """The right models, holding values that cannot become JSON: the registry's type checks cannot see inside."""

    kind = "returns-unrenderable-data"

    def worker(self) -> Worker:
        return attrs.evolve(super().worker(), created_at="yesterday")  # type: ignore[arg-type]

    async def read_events(self, *, cursor: int | None, limit: int, worker_id: str | None = None):
        from registry_core import Event, EventPage

        if cursor:
            return EventPage(self.runtime_id, (), cursor, False)
        return EventPage(self.runtime_id, (Event(1, "odd", None, {"handle": object()}, CREATED),), 1, False)

    async def wait_for_events(self, *, cursor: int, timeout: float) -> bool:
        await asyncio.sleep(timeout)
        return False

    async def describe(self):
        from registry_core import RuntimeState

        return RuntimeState(diagnostics=({"code": "odd", "message": SECRET},))  # type: ignore[arg-type]


UNRENDERABLE_CONFIG = """
[server]
stream_heartbeat_seconds = 0.05

[[runtimes]]
id = "backend-internal"
kind = "embedded"

[[runtimes]]
id = "odd"
kind = "returns-unrenderable-data"
"""


@contextlib.asynccontextmanager
async def serving_unrenderable() -> AsyncIterator[httpx.AsyncClient]:
    builtin = tuple(p for p in discover_plugins() if p.name == "embedded")
    discovered = (*builtin, kinds_plugin("odd-plugin", ReturnsUnrenderableData))
    app = create_app(assembly=assemble(parse_config(UNRENDERABLE_CONFIG), discovered=discovered))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            yield client


@pytest.mark.parametrize(
    "path", ["/api/runtimes/odd/workers", "/api/runtimes/odd/workers/w1", "/api/runtimes/odd/events"]
)
async def test_a_runtime_returning_values_that_cannot_be_rendered_answers_503(path):
    async with serving_unrenderable() as client:
        response = await client.get(path)
    assert error_of(response) == (503, "runtime_unavailable")
    assert_nothing_leaks(response)


async def test_unrenderable_rows_of_one_runtime_are_a_diagnostic_of_the_overview_not_a_failure():
    async with serving_unrenderable() as client:
        await client.post("/api/runtimes/backend-internal/workers", json={})
        response = await client.get("/api/workers")
    assert response.status_code == 200
    body = response.json()
    assert {w["runtime_id"] for w in body["items"]} == {"backend-internal"}
    assert ("runtime_unavailable", "runtime 'odd' returned malformed data") in [
        (d["code"], d["message"]) for d in body["diagnostics"]
    ]


async def test_a_runtime_describing_itself_with_malformed_diagnostics_is_unavailable_in_the_runtime_list():
    async with serving_unrenderable() as client:
        response = await client.get("/api/runtimes")
    assert response.status_code == 200
    statuses = {r["runtime_id"]: r["status"] for r in response.json()["items"]}
    assert statuses == {"backend-internal": "running", "odd": "unavailable"}
    assert_nothing_leaks(response)


async def test_an_unrenderable_event_ends_the_stream_with_an_error_event():
    async with serving_unrenderable() as client:
        async with client.stream("GET", "/api/runtimes/odd/events/stream") as response:
            text = (await asyncio.wait_for(response.aread(), 5)).decode()
    assert response.status_code == 200
    assert "event: error" in text and "runtime_unavailable" in text
    assert SECRET not in text and "handle" not in text
