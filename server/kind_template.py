"""The files ``runtime-registry new-kind`` writes: a runtime kind's package, built on the plugin API's blocks.

Each template is a :class:`string.Template` over ``$kind`` (the kind name),
``$module`` (its import name), ``$Class`` (the CamelCase stem of its class
names), ``$dist`` (the distribution name) and ``$requirement`` (the
runtime-registry version it needs). A test generates a package, installs it
in a fresh virtual environment and runs its tests, so these stay working.
"""

from __future__ import annotations

from string import Template

__all__ = ["TEMPLATES"]

_PYPROJECT = """\
[build-system]
requires = ["setuptools>=70.1"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "A runtime-registry plugin: the $kind runtime kind"
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["$requirement"]

[project.optional-dependencies]
test = ["pytest>=8", "pytest-asyncio>=0.24", "httpx>=0.27"]

# runtime-registry finds the plugin through this entry point: the name is the
# plugin's name (what operators enable and disable), the value the module with
# the register_runtime_kinds hook.
[project.entry-points.runtime_registry]
$kind = "$module.plugin"

[tool.setuptools.packages.find]
where = ["src"]

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["src"]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
"""

_GITIGNORE = """\
build/
dist/
*.egg-info/
__pycache__/
.pytest_cache/
"""

_README = """\
# $dist

A [runtime-registry](https://pypi.org/project/runtime-registry/) plugin
providing the **`$kind`** runtime kind. As generated, its workers answer each
input by repeating it: replace the turn in `provider.py` with what your kind
does.

```
src/$module/
  plugin.py      the register_runtime_kinds hook (the entry point names it)
  settings.py    ${Class}Settings: what operators configure
  provider.py    ${Class}Provider: the kind, on registry_core's building blocks
tests/           the conformance suite, behaviour tests, and HTTP tests (the kind_app fixture)
```

## Develop

```
pip install -e '.[test]'
pytest
runtime-registry plugins          # lists $kind as loaded
```

## Configure

```toml
[[runtimes]]
id = "my-$kind"
kind = "$kind"
settings = { max_workers = 10 }
```

`runtime-registry plugins --json` lists every setting with its type, default
and doc; `runtime-registry check-config FILE` checks a configuration.

## Publish

Build a wheel and an sdist into `dist/` and upload them:

```
python -m build            # or: pip wheel --no-deps -w dist .
python -m twine upload dist/*
```

`pip install .` from a checkout also builds, and leaves `build/` in it
(ignored by `.gitignore`); build wheels in CI from a clean checkout.
"""

_INIT = '''\
"""A runtime-registry plugin providing the ``$kind`` runtime kind."""

from $module.provider import ${Class}Provider
from $module.settings import ${Class}Settings

__all__ = ["${Class}Provider", "${Class}Settings"]
'''

_SETTINGS = '''\
"""What an operator can configure for a ``$kind`` runtime."""

from __future__ import annotations

from typing import Annotated

import attrs
from annotated_types import Ge, Interval


@attrs.frozen
class ${Class}Settings:
    """The ``settings`` table of a ``$kind`` runtime.

    :param max_workers: the most workers the runtime holds.
    :param max_input_chars: the longest input accepted.
    :param max_transcript_entries: the most entries of one worker's transcript.
    :param event_retention: how many events are kept for polling and stream resume.
    :param page_max: the largest page of workers, transcript entries or events.
    """

    max_workers: Annotated[int, Ge(1)] = 100
    max_input_chars: Annotated[int, Ge(1)] = 10_000
    max_transcript_entries: Annotated[int, Ge(2)] = 1_000
    event_retention: Annotated[int, Ge(1)] = 1_000
    page_max: Annotated[int, Interval(ge=1, le=1000)] = 100

    def __attrs_post_init__(self) -> None:
        if self.event_retention < self.page_max:
            raise ValueError("event_retention must be at least page_max")
'''

_PROVIDER = '''\
"""The ``$kind`` runtime kind: workers that answer each input (as generated: by repeating it)."""

from __future__ import annotations

from datetime import datetime, timezone

from registry_core import (
    WORKER_CREATED,
    WORKER_DELETED,
    WORKER_INPUT_ACCEPTED,
    WORKER_OUTPUT,
    WORKER_STOPPED,
    WORKER_TURN_COMPLETED,
    WORKER_TURN_STARTED,
    CapacityExceeded,
    CreateWorkerRequest,
    Diagnostic,
    EventPage,
    InputAccepted,
    InputRequest,
    Intent,
    InvalidRequest,
    RuntimeLimits,
    RuntimeProvider,
    TranscriptEntry,
    TranscriptPage,
    Worker,
    WorkerActionResult,
    WorkerPage,
    WorkerStopped,
)
from registry_core.blocks import EventLog, Roster, Transcript

from $module.settings import ${Class}Settings

__all__ = ["${Class}Provider", "KIND"]

#: The kind name: as registered, and in every Worker this provider returns.
KIND = "$kind"
#: A turn adds the input and one reply to the transcript.
ENTRIES_PER_TURN = 2


class ${Class}Worker:
    """One worker's state."""

    def __init__(self, worker_id: str, label: str | None, intent: Intent | None, max_entries: int) -> None:
        self.worker_id = worker_id
        self.label = label
        self.intent = intent
        self.created_at = datetime.now(timezone.utc)
        self.transcript = Transcript(max_entries=max_entries)
        self.turns = 0
        self.stopped = False


class ${Class}Provider(RuntimeProvider):
    """One ``$kind`` runtime: its workers, their transcripts and its event log."""

    kind = KIND

    def __init__(self, runtime_id: str, settings: ${Class}Settings) -> None:
        super().__init__(runtime_id)
        self.settings = settings
        self.limits = RuntimeLimits(
            worker_page_max=settings.page_max,
            transcript_page_max=settings.page_max,
            event_page_max=settings.page_max,
            max_workers=settings.max_workers,
            max_transcript_entries=settings.max_transcript_entries,
            max_input_chars=settings.max_input_chars,
            event_retention=settings.event_retention,
        )
        # The blocks keep the rules: ids never reused, list cursors that survive
        # deletes, event ids unique across restarts, cursors that expire.
        self.workers: Roster[${Class}Worker] = Roster(id_prefix="$kind-")
        self.events = EventLog(settings.event_retention)

    # -- workers -----------------------------------------------------------------

    def model(self, worker: ${Class}Worker, diagnostics: tuple[Diagnostic, ...] = ()) -> Worker:
        """The worker as clients see it."""
        return Worker(
            runtime_id=self.runtime_id,
            worker_id=worker.worker_id,
            kind=KIND,
            label=worker.label,
            status="stopped" if worker.stopped else "idle",
            profile="default",
            intent=worker.intent,
            created_at=worker.created_at,
            transcript_length=len(worker.transcript),
            diagnostics=diagnostics,
        )

    async def create_worker(self, request: CreateWorkerRequest) -> Worker:
        """A new idle worker; it grants no capabilities and has one profile, ``default``."""
        if request.capabilities:
            raise InvalidRequest(
                "workers of this runtime can be granted no capabilities",
                details=tuple(
                    {"path": f"capabilities[{index}]", "message": "not available in this runtime"}
                    for index in range(len(request.capabilities))
                ),
            )
        if len(self.workers) >= self.settings.max_workers:
            raise CapacityExceeded(f"this runtime holds at most {self.settings.max_workers} workers")
        diagnostics: tuple[Diagnostic, ...] = ()
        if request.profile not in (None, "default"):
            diagnostics = (Diagnostic.warning("profile_fallback", "this runtime has one profile, 'default'"),)
        worker = self.workers.add(
            lambda worker_id: ${Class}Worker(
                worker_id, request.label, request.intent, self.settings.max_transcript_entries
            )
        )
        self.events.append(WORKER_CREATED, worker.worker_id, {"profile": "default"})
        return self.model(worker, diagnostics)

    async def get_worker(self, worker_id: str) -> Worker:
        """One worker; ``UnknownWorker`` if there is none."""
        return self.model(self.workers.get(worker_id))

    async def list_workers(self, *, limit: int, cursor: str | None) -> WorkerPage:
        """Workers in creation order."""
        workers, next_cursor = self.workers.page(cursor=cursor, limit=limit)
        return WorkerPage(self.runtime_id, tuple(map(self.model, workers)), next_cursor)

    # -- turns -------------------------------------------------------------------

    async def send_input(self, worker_id: str, request: InputRequest) -> InputAccepted:
        """Record the input and run the turn; it ends before this returns (nothing to cancel)."""
        worker = self.workers.get(worker_id)
        if worker.stopped:
            raise WorkerStopped("the worker is stopped and takes no more input")
        if len(request.content) > self.settings.max_input_chars:
            raise InvalidRequest(
                f"input is longer than {self.settings.max_input_chars} characters",
                details=({"path": "content", "message": f"must be at most {self.settings.max_input_chars} characters"},),
            )
        worker.transcript.reserve(ENTRIES_PER_TURN, worker_id=worker_id)
        entry = self._record(worker, WORKER_INPUT_ACCEPTED, request.kind.value, request.content)
        worker.turns += 1
        self.events.append(WORKER_TURN_STARTED, worker_id, {"turn": worker.turns})
        self._record(worker, WORKER_OUTPUT, "assistant", self.reply(request.content))
        self.events.append(WORKER_TURN_COMPLETED, worker_id, {"turn": worker.turns})
        return InputAccepted(self.runtime_id, worker_id, entry.sequence, entry.event_id or 0, "idle")

    def reply(self, content: str) -> str:
        """What the worker answers. Replace this with what your kind does."""
        return content

    def _record(self, worker: ${Class}Worker, event_type: str, role: str, content: str) -> TranscriptEntry:
        """Announce a transcript entry with its event (the event contract's data), then append it."""
        data = {"transcript_sequence": worker.transcript.next_sequence, "role": role, "content": content}
        event = self.events.append(event_type, worker.worker_id, data)
        return worker.transcript.append(role, content, event.id)

    async def read_transcript(self, worker_id: str, *, start: int, limit: int) -> TranscriptPage:
        """A bounded transcript page."""
        return self.workers.get(worker_id).transcript.page(self.runtime_id, worker_id, start=start, limit=limit)

    async def stop_worker(self, worker_id: str) -> WorkerActionResult:
        """Stop the worker for good; ``changed`` is ``False`` the second time."""
        worker = self.workers.get(worker_id)
        if worker.stopped:
            return WorkerActionResult(self.runtime_id, worker_id, "stop", False, "stopped")
        worker.stopped = True
        self.events.append(WORKER_STOPPED, worker_id, {})
        return WorkerActionResult(self.runtime_id, worker_id, "stop", True, "stopped")

    async def delete_worker(self, worker_id: str) -> WorkerActionResult:
        """Forget the worker for good: stopped, unlisted, its id never issued again."""
        worker = self.workers.get(worker_id)
        if not worker.stopped:
            worker.stopped = True
            self.events.append(WORKER_STOPPED, worker_id, {})
        self.workers.remove(worker_id)
        self.events.append(WORKER_DELETED, worker_id, {})
        self.events.forget_worker(worker_id)
        return WorkerActionResult(self.runtime_id, worker_id, "delete", True, "stopped")

    # -- events ------------------------------------------------------------------

    async def read_events(self, *, cursor: int | None, limit: int, worker_id: str | None = None) -> EventPage:
        """Events after ``cursor``; ``CursorExpired`` outside what the log retains."""
        if worker_id is not None:
            self.workers.get(worker_id)
        return self.events.page(self.runtime_id, cursor=cursor, limit=limit, worker_id=worker_id)

    async def wait_for_events(self, *, cursor: int, timeout: float) -> bool:
        """Wait for an event after ``cursor``; ``False`` at once after close."""
        return await self.events.wait(cursor=cursor, timeout=timeout)

    async def close(self) -> None:
        """Wake every waiter: open streams must not hold up shutdown."""
        self.events.close()
'''

_PLUGIN = '''\
"""The module the ``runtime_registry`` entry point names: it registers the ``$kind`` kind."""

from collections.abc import Callable

from registry_core import RuntimeKind, hookimpl

from $module.provider import KIND, ${Class}Provider
from $module.settings import ${Class}Settings


@hookimpl
def register_runtime_kinds(register: Callable[[RuntimeKind], None]) -> None:
    """Register the ``$kind`` runtime kind."""
    register(
        RuntimeKind(
            name=KIND,
            description="Workers that answer each input",
            factory=${Class}Provider,
            settings_type=${Class}Settings,
        )
    )
'''

_TEST_CONFORMANCE = '''\
"""runtime-registry's conformance suite, run against the ``$kind`` kind."""

from runtime_registry.testing.conformance import RuntimeConformance

from $module import ${Class}Provider, ${Class}Settings


class Test${Class}Conformance(RuntimeConformance):
    def make_provider(self, runtime_id):
        return ${Class}Provider(runtime_id, ${Class}Settings())
'''

_TEST_BEHAVIOUR = '''\
"""What the ``$kind`` kind does, through a RuntimeRegistry as the server calls it."""

import pytest
from registry_core import (
    CapacityExceeded,
    CreateWorkerRequest,
    InputRequest,
    WorkerStopped,
    data_problems,
    order_problems,
)
from runtime_registry.host import RuntimeRegistry

from $module import ${Class}Provider, ${Class}Settings


@pytest.fixture
async def registry():
    registry = RuntimeRegistry()
    registry.register(${Class}Provider("test", ${Class}Settings(max_transcript_entries=4)))
    async with registry:
        yield registry


async def test_a_worker_answers_its_input(registry):
    worker = await registry.create_worker("test", CreateWorkerRequest())
    await registry.send_input("test", worker.worker_id, InputRequest("hello"))
    page = await registry.read_transcript("test", worker.worker_id)
    assert [(entry.role, entry.content) for entry in page.items] == [("user", "hello"), ("assistant", "hello")]


async def test_a_full_transcript_refuses_the_next_turn(registry):
    worker = await registry.create_worker("test", CreateWorkerRequest())
    for text in ("one", "two"):
        await registry.send_input("test", worker.worker_id, InputRequest(text))
    with pytest.raises(CapacityExceeded):
        await registry.send_input("test", worker.worker_id, InputRequest("three"))


async def test_a_stopped_worker_takes_no_input(registry):
    worker = await registry.create_worker("test", CreateWorkerRequest())
    await registry.stop_worker("test", worker.worker_id)
    with pytest.raises(WorkerStopped):
        await registry.send_input("test", worker.worker_id, InputRequest("late"))


async def test_the_events_hold_to_the_event_contract(registry):
    worker = await registry.create_worker("test", CreateWorkerRequest())
    await registry.send_input("test", worker.worker_id, InputRequest("hello"))
    await registry.delete_worker("test", worker.worker_id)
    events = (await registry.read_events("test", cursor=0)).events
    assert [problem for event in events for problem in data_problems(event, kind="$kind")] == []
    assert order_problems(events) == []
'''

_CONFTEST = '''\
"""The plugin under test, for runtime-registry's kind_registry and kind_app fixtures."""

import pytest

from $module import plugin


@pytest.fixture
def kind_plugin():
    return plugin
'''

_TEST_HTTP = '''\
"""The ``$kind`` kind served by the real HTTP app, in-process (runtime-registry's kind_app fixture)."""


async def test_a_worker_answers_over_http(kind_app):
    async with kind_app(settings={"max_workers": 1}) as client:
        worker = (await client.post("/api/runtimes/test/workers", json={})).json()
        path = f"/api/runtimes/test/workers/{worker['worker_id']}"
        accepted = await client.post(f"{path}/input", json={"content": "hello"})
        transcript = (await client.get(f"{path}/transcript")).json()
        full = await client.post("/api/runtimes/test/workers", json={})
    assert accepted.status_code == 202
    assert [entry["content"] for entry in transcript["items"]] == ["hello", "hello"]
    assert full.json()["error"]["code"] == "capacity_exceeded"


async def test_settings_that_do_not_fit_are_refused(kind_registry):
    import pytest
    from runtime_registry.host import ConfigError

    with pytest.raises(ConfigError, match="page_max"):
        async with kind_registry(settings={"page_max": 0}):
            pass
'''

#: Path in the package (with ``$module`` for the import name) -> template.
TEMPLATES: dict[str, Template] = {
    "pyproject.toml": Template(_PYPROJECT),
    ".gitignore": Template(_GITIGNORE),
    "README.md": Template(_README),
    "src/$module/__init__.py": Template(_INIT),
    "src/$module/settings.py": Template(_SETTINGS),
    "src/$module/provider.py": Template(_PROVIDER),
    "src/$module/plugin.py": Template(_PLUGIN),
    "tests/test_conformance.py": Template(_TEST_CONFORMANCE),
    "tests/test_$module.py": Template(_TEST_BEHAVIOUR),
    "tests/conftest.py": Template(_CONFTEST),
    "tests/test_http.py": Template(_TEST_HTTP),
}
