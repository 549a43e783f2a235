"""The conformance suite for runtime kinds: subclass :class:`RuntimeConformance` in your tests.

Example (``tests/test_conformance.py`` of a plugin package)::

    from runtime_registry.testing.conformance import RuntimeConformance
    from acme_runtime.provider import AcmeProvider
    from acme_runtime.settings import AcmeSettings

    class TestAcmeConformance(RuntimeConformance):
        def make_provider(self, runtime_id):
            return AcmeProvider(runtime_id, AcmeSettings())

Plain ``pytest`` then collects every ``test_*`` check below against your
provider; nothing else is needed. ``pytest -p runtime_registry.testing.conformance`` is
also accepted: it adds a report-header line naming the suite and its number
of checks, and changes nothing else (decision 0030).

Each check builds fresh providers inside its own event loop, registers them in
a real :class:`~runtime_registry.host.registry.RuntimeRegistry` (so results also pass
the registry's shape checks, exactly as they would in the server) and
exercises one part of the contract: summary shape, truthful capabilities,
valid and opaque ids, routing by ``runtime_id + worker_id``, transcript paging,
event ids and cursors (ids never reused when the runtime restarts: one check
makes a second provider for the same runtime id), waiting for events, typed errors for unknown, busy and
stopped workers, deleted workers gone for good, data that becomes JSON, and no path-like strings in anything
returned. A breach fails
with a :class:`ContractViolation` whose message names the rule. A check that
needs an operation your kind does not support skips, saying why.

Hooks to override:

- :meth:`RuntimeConformance.make_provider` (required);
- :meth:`RuntimeConformance.existing_worker_id` for kinds that cannot create
  workers: an id the provider has (by default the first worker it lists);
- :meth:`RuntimeConformance.slow_turn_request` to enable the busy and cancel
  checks: a create request whose workers stay busy for at least ~0.2 s after
  an input;
- the attributes ``check_timeout`` (seconds a check may take; provider calls
  get half) and ``close_grace_seconds`` (how soon waiters must return after
  ``close()``).

The suite reads a worker status of ``"busy"`` as "a turn is running" (the
contract's word) when it waits for a turn to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from registry_core.converter import unstructure
from registry_core.errors import (
    CapacityExceeded,
    CursorExpired,
    RegistryError,
    UnknownWorker,
    UnsupportedOperation,
    WorkerBusy,
    WorkerStopped,
)
from registry_core.identifiers import is_valid_identifier
from registry_core.kinds import KIND_NAME_PATTERN
from registry_core.models import (
    Capabilities,
    CreateWorkerRequest,
    Event,
    EventPage,
    InputRequest,
    RuntimeStatus,
    TranscriptEntry,
    TranscriptPage,
    Worker,
    WorkerActionResult,
    WorkerPage,
)
from registry_core.provider import OPERATIONS, RuntimeProvider
from runtime_registry.host.registry import RuntimeRegistry

__all__ = ["RuntimeConformance", "ContractViolation", "find_path_like"]

# Absolute POSIX paths (two segments or more), home-relative paths, Windows
# drive and UNC paths, socket files and file URLs.
_PATH_LIKE = re.compile(r"(?:^|[\s\"'=(])(?:/[^\s/]+/[^\s]*|~/\S*|[A-Za-z]:\\\S*|\\\\[^\s\\]+\\)|\.sock\b|file://")

#: Ids of the runtimes every check registers; the first is the one under test.
RUNTIME_IDS = ("conformance-0", "conformance-1")
#: A well-formed worker id that no runtime should have.
MISSING_WORKER = "conformance-no-such-worker"
#: How long a turn may take to end before a check gives up on it.
TURN_SETTLE_SECONDS = 10.0
#: The most pages a check walks before it calls a cursor a loop.
MAX_PAGES = 10_000
#: How long the restart check waits between two runs: a first id taken from
#: a microsecond clock must not be able to repeat the earlier run's.
RESTART_PAUSE_SECONDS = 0.005
#: The most actions the restart check takes in the new run to reach the old cursor.
MAX_RESTART_ACTIONS = 50

_REGISTRY_HINTS = {
    "runtime_unavailable": " (the provider raised an unexpected exception or returned malformed data: the log says which)",
    "runtime_timeout": " (the provider did not answer within the call timeout)",
}


def find_path_like(data: Any) -> list[str]:
    """Every string inside ``data`` (JSON-like: dicts, lists, tuples, strings) that looks like a path or socket."""
    found: list[str] = []

    def visit(value: Any) -> None:
        if isinstance(value, str):
            if _PATH_LIKE.search(value):
                found.append(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                visit(key)
                visit(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item)

    visit(data)
    return found


class ContractViolation(AssertionError):
    """A provider broke the runtime contract. The message names the rule and what the provider did."""


def _require(condition: object, message: str) -> None:
    # Not a bare assert: the suite must hold under ``python -O`` too, and the
    # message must explain the rule whether or not pytest rewrites asserts.
    if not condition:
        raise ContractViolation(message)


def _described(exc: RegistryError) -> str:
    return f"{type(exc).__name__} ({exc.code}: {exc.message}){_REGISTRY_HINTS.get(exc.code, '')}"


async def _succeeds(what: str, call: Awaitable[Any]) -> Any:
    """Await ``call``; a typed error becomes a violation saying ``what`` must have worked."""
    try:
        return await call
    except RegistryError as exc:
        raise ContractViolation(f"{what} must succeed; it raised {_described(exc)}") from exc


async def _raises(error: type[RegistryError], what: str, call: Awaitable[Any]) -> RegistryError:
    """Await ``call`` and return the ``error`` it must raise; anything else is a violation."""
    try:
        result = await call
    except error as exc:
        return exc
    except RegistryError as exc:
        raise ContractViolation(f"{what} must raise {error.__name__} ({error.code}); it raised {_described(exc)}") from exc
    raise ContractViolation(f"{what} must raise {error.__name__} ({error.code}); it returned {result!r:.300}")


Check = Callable[[RuntimeRegistry, str], Awaitable[None]]


class RuntimeConformance:
    """Contract checks for one runtime kind. Subclass (as ``Test...``) and implement :meth:`make_provider`."""

    #: How long a single check may run before it fails; provider calls get half of it.
    check_timeout: float = 20.0
    #: How soon ``wait_for_events`` must return once the provider is closed.
    close_grace_seconds: float = 2.0

    def make_provider(self, runtime_id: str) -> RuntimeProvider:
        """Return a new, not yet started provider of your kind for ``runtime_id``.

        Called once per runtime of a check (up to two, with different ids);
        the providers must not share workers. The restart check calls it a
        second time for the same id after closing the first provider: that is
        a restart of the runtime, so a kind that keeps state outside the
        process must give the new provider the same store.
        """
        raise NotImplementedError("implement make_provider(runtime_id) in your conformance class")

    def existing_worker_id(self, provider: RuntimeProvider) -> str | None:
        """A worker id the (started) provider has, for kinds that cannot create workers.

        ``None`` (the default) lets the suite use the first worker the
        provider lists; checks that need a worker skip if there is none.
        """
        return None

    def slow_turn_request(self) -> CreateWorkerRequest | None:
        """A create request whose workers stay busy for ~0.2 s or more after input (enables busy and cancel checks)."""
        return None

    # -- plumbing ----------------------------------------------------------------

    def run_check(self, check: Check, *, runtimes: int = 1) -> None:
        """Run ``check(registry, first_runtime_id)`` in a fresh event loop against fresh, started providers."""

        async def main() -> None:
            async with self._started_registry(runtimes) as registry:
                try:
                    async with asyncio.timeout(self.check_timeout):
                        await check(registry, RUNTIME_IDS[0])
                except TimeoutError:
                    raise ContractViolation(
                        f"the check did not finish within {self.check_timeout:g} s: an operation never returned"
                    ) from None

        asyncio.run(main())

    @contextlib.asynccontextmanager
    async def _started_registry(self, runtimes: int = 1) -> AsyncIterator[RuntimeRegistry]:
        """A registry holding new providers (from :meth:`make_provider`) for the first ``runtimes`` ids, started.

        Every call makes new providers: calling it again for the same id is
        a restart of that runtime. The providers are closed on exit.
        """
        registry = RuntimeRegistry(call_timeout=self.check_timeout / 2)
        for runtime_id in RUNTIME_IDS[:runtimes]:
            registry.register(self.make_provider(runtime_id))
        async with registry:
            for runtime_id in RUNTIME_IDS[:runtimes]:
                summary = await registry.describe_runtime(runtime_id)
                _require(
                    summary.status in (RuntimeStatus.RUNNING, RuntimeStatus.DEGRADED),
                    f"the provider must start and describe itself as running or degraded; it is "
                    f"{summary.status.value} ({', '.join(d.code + ': ' + d.message for d in summary.diagnostics)})",
                )
            yield registry

    async def _a_worker(
        self, registry: RuntimeRegistry, runtime_id: str, request: CreateWorkerRequest | None = None, *, required: bool = True
    ) -> str | None:
        """A worker to check against: a new one if the kind creates workers, else one it already has."""
        capabilities = await _capabilities(registry, runtime_id)
        if capabilities.create_worker:
            worker = await _succeeds("create_worker", registry.create_worker(runtime_id, request or CreateWorkerRequest()))
            return worker.worker_id
        worker_id = self.existing_worker_id(registry.provider(runtime_id))
        if worker_id is None and capabilities.list_workers:
            page = await _succeeds("list_workers", registry.list_workers(runtime_id, limit=1))
            worker_id = page.items[0].worker_id if page.items else None
        if worker_id is None and required:
            pytest.skip("the kind cannot create workers and has none to list (override existing_worker_id)")
        return worker_id

    # -- summary and capabilities --------------------------------------------------

    def test_summary_has_the_contract_shape(self) -> None:
        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            summary = await registry.describe_runtime(runtime_id)
            kind = summary.kind
            _require(KIND_NAME_PATTERN.fullmatch(kind), f"the provider's kind {kind!r} is not a valid kind name")
            limits = summary.limits
            for name in ("worker_page_max", "transcript_page_max", "event_page_max"):
                value = getattr(limits, name)
                _require(_is_count(value), f"limits.{name} must be a positive integer; it is {value!r}")
            for name in ("max_workers", "max_transcript_entries", "max_input_chars", "event_retention"):
                value = getattr(limits, name)
                _require(value is None or _is_count(value), f"limits.{name} must be None or a positive integer; it is {value!r}")
            for diagnostic in summary.diagnostics:
                _require(
                    isinstance(diagnostic.code, str) and diagnostic.code and isinstance(diagnostic.message, str) and diagnostic.message,
                    f"every diagnostic needs a code and a message; got {diagnostic!r}",
                )
            try:
                json.dumps(unstructure(summary))
            except (TypeError, ValueError) as exc:
                raise ContractViolation(f"the summary must be JSON-ready; it is not ({exc})") from exc

        self.run_check(check)

    def test_false_capabilities_answer_unsupported(self) -> None:
        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            capabilities = await _capabilities(registry, runtime_id)
            worker = MISSING_WORKER
            calls: dict[str, Callable[[], Awaitable[Any]]] = {
                "list_workers": lambda: registry.list_workers(runtime_id, limit=1),
                "get_worker": lambda: registry.get_worker(runtime_id, worker),
                "create_worker": lambda: registry.create_worker(runtime_id, CreateWorkerRequest()),
                "send_input": lambda: registry.send_input(runtime_id, worker, InputRequest("conformance")),
                "cancel_worker": lambda: registry.cancel_worker(runtime_id, worker),
                "stop_worker": lambda: registry.stop_worker(runtime_id, worker),
                "delete_worker": lambda: registry.delete_worker(runtime_id, worker),
                "read_transcript": lambda: registry.read_transcript(runtime_id, worker, limit=1),
                "read_events": lambda: registry.read_events(runtime_id, limit=1),
            }
            _require(set(calls) == set(OPERATIONS), "the suite is out of date with registry_core's operations")
            unsupported = [name for name in OPERATIONS if not getattr(capabilities, name)]
            for name in unsupported:
                await _raises(UnsupportedOperation, f"{name} (its capability is false)", calls[name]())
            if capabilities.read_events and not capabilities.stream_events:
                await _raises(
                    UnsupportedOperation, "wait_for_events (the stream_events capability is false)",
                    registry.wait_for_events(runtime_id, cursor=0, timeout=0.01),
                )
            if not unsupported and capabilities.stream_events:
                pytest.skip("every capability is true")

        self.run_check(check)

    def test_true_capabilities_work(self) -> None:
        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            capabilities = await _capabilities(registry, runtime_id)
            if capabilities.list_workers:
                page = await _succeeds("list_workers (capability true)", registry.list_workers(runtime_id, limit=1))
                _require(len(page.items) <= 1, f"list_workers(limit=1) returned {len(page.items)} workers")
            if capabilities.read_events:
                events = await _succeeds("read_events (capability true)", registry.read_events(runtime_id, limit=1))
                _require(len(events.events) <= 1, f"read_events(limit=1) returned {len(events.events)} events")
            if capabilities.stream_events:
                latest = await _latest_cursor(registry, runtime_id)
                waited = await _succeeds(
                    "wait_for_events (capability true)", registry.wait_for_events(runtime_id, cursor=latest, timeout=0.01)
                )
                _require(isinstance(waited, bool), f"wait_for_events must return a bool; it returned {waited!r}")
            worker_id = await self._a_worker(registry, runtime_id, required=False)
            if worker_id is None:
                return
            if capabilities.get_worker:
                worker = await _succeeds("get_worker (capability true)", registry.get_worker(runtime_id, worker_id))
                _require(worker.worker_id == worker_id, f"get_worker({worker_id!r}) returned worker {worker.worker_id!r}")
            if capabilities.read_transcript:
                await _succeeds("read_transcript (capability true)", registry.read_transcript(runtime_id, worker_id, limit=1))
            if capabilities.send_input:
                accepted = await _succeeds(
                    "send_input (capability true)", registry.send_input(runtime_id, worker_id, InputRequest("conformance"))
                )
                _require(accepted.worker_id == worker_id, f"send_input answered for worker {accepted.worker_id!r}")
                _require(_is_count(accepted.transcript_sequence), "InputAccepted.transcript_sequence must be 1 or more")
            if capabilities.cancel_worker:
                result = await _succeeds("cancel_worker (capability true)", registry.cancel_worker(runtime_id, worker_id))
                _check_action(result, worker_id, "cancel")
            if capabilities.stop_worker:
                result = await _succeeds("stop_worker (capability true)", registry.stop_worker(runtime_id, worker_id))
                _check_action(result, worker_id, "stop")
            if capabilities.delete_worker:
                result = await _succeeds("delete_worker (capability true)", registry.delete_worker(runtime_id, worker_id))
                _check_action(result, worker_id, "delete")

        self.run_check(check)

    # -- workers ---------------------------------------------------------------------

    def test_created_workers_have_valid_opaque_ids(self) -> None:
        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            capabilities = await _capabilities(registry, runtime_id)
            if not capabilities.create_worker:
                pytest.skip("the kind does not create workers")
            label = "conformance-label"
            created = [
                await _succeeds("create_worker", registry.create_worker(runtime_id, CreateWorkerRequest(label=label)))
                for _ in range(3)
            ]
            for worker in created:
                _check_worker(worker)
                _require(worker.worker_id != label, "a worker id must be generated by the runtime, not taken from the label")
            ids = [worker.worker_id for worker in created]
            _require(len(set(ids)) == len(ids), f"three creates with the same label gave ids {ids}: ids must be unique")
            if capabilities.get_worker:
                for worker_id in ids:
                    fetched = await _succeeds("get_worker of a created worker", registry.get_worker(runtime_id, worker_id))
                    _require(fetched.worker_id == worker_id, f"get_worker({worker_id!r}) returned {fetched.worker_id!r}")

        self.run_check(check)

    def test_listed_workers_are_valid_unique_and_complete(self) -> None:
        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            capabilities = await _capabilities(registry, runtime_id)
            if not capabilities.list_workers:
                pytest.skip("the kind does not list workers")
            created = []
            if capabilities.create_worker:
                for _ in range(5):
                    worker = await _succeeds("create_worker", registry.create_worker(runtime_id, CreateWorkerRequest()))
                    created.append(worker.worker_id)
            listed = await _all_workers(registry, runtime_id, limit=2)
            for worker in listed:
                _check_worker(worker)
            ids = [worker.worker_id for worker in listed]
            _require(len(set(ids)) == len(ids), f"list_workers paged with limit=2 listed a worker twice: {ids}")
            missing = [worker_id for worker_id in created if worker_id not in ids]
            _require(not missing, f"list_workers paged with limit=2 never listed the created workers {missing}")

        self.run_check(check)

    def test_unknown_worker_is_a_typed_error(self) -> None:
        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            capabilities = await _capabilities(registry, runtime_id)
            checked = 0
            for name, call in _worker_operations(registry, runtime_id, MISSING_WORKER).items():
                if getattr(capabilities, name):
                    error = await _raises(UnknownWorker, f"{name} of a worker this runtime does not have", call())
                    _require(not find_path_like(error.to_dict()), f"the {name} error message looks like a path: {error.message!r}")
                    checked += 1
            if not checked:
                pytest.skip("the kind has no operation on a single worker")

        self.run_check(check)

    def test_a_worker_is_unknown_in_another_runtime(self) -> None:
        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            capabilities = await _capabilities(registry, runtime_id)
            if not capabilities.create_worker:
                pytest.skip("needs create_worker (two runtimes of a read-only kind may share their data)")
            other = RUNTIME_IDS[1]
            worker = await _succeeds("create_worker", registry.create_worker(runtime_id, CreateWorkerRequest()))
            for name, call in _worker_operations(registry, other, worker.worker_id).items():
                if getattr(capabilities, name):
                    await _raises(UnknownWorker, f"{name} in runtime B of a worker created in runtime A", call())
            if capabilities.list_workers:
                listed = [w.worker_id for w in await _all_workers(registry, other, limit=100)]
                _require(worker.worker_id not in listed, "runtime B lists a worker created in runtime A")

        self.run_check(check, runtimes=2)

    # -- transcript ------------------------------------------------------------------

    def test_transcript_pages_are_gapless_and_bounded(self) -> None:
        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            capabilities = await _capabilities(registry, runtime_id)
            if not capabilities.read_transcript:
                pytest.skip("the kind does not read transcripts")
            worker_id = await self._a_worker(registry, runtime_id)
            if capabilities.send_input:
                for content in ("first", "second"):
                    await _send_when_idle(registry, runtime_id, worker_id, content)
                await _settle(registry, runtime_id, worker_id)
            entries = await _walk_transcript(registry, runtime_id, worker_id, limit=1)
            if capabilities.send_input:
                _require(len(entries) >= 2, f"after two inputs the transcript has {len(entries)} entries")
            page_max = (await registry.describe_runtime(runtime_id)).limits.transcript_page_max
            whole = await _walk_transcript(registry, runtime_id, worker_id, limit=min(page_max, 1000))
            _require(
                [(e.sequence, e.content) for e in whole] == [(e.sequence, e.content) for e in entries],
                "reading the transcript one entry at a time and in large pages gave different entries",
            )
            total = len(entries)
            beyond = await _succeeds(
                "read_transcript past the end", registry.read_transcript(runtime_id, worker_id, start=total + 5, limit=1)
            )
            _require(
                beyond.items == () and beyond.next_start is None and beyond.total == total,
                f"a page past the end must be empty with next_start None and total {total}; got "
                f"{len(beyond.items)} items, next_start {beyond.next_start}, total {beyond.total}",
            )

        self.run_check(check)

    def test_accepted_input_is_in_the_transcript_where_it_says(self) -> None:
        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            capabilities = await _capabilities(registry, runtime_id)
            if not (capabilities.send_input and capabilities.read_transcript):
                pytest.skip("needs send_input and read_transcript")
            worker_id = await self._a_worker(registry, runtime_id)
            content = "conformance: accepted input is never lost"
            accepted = await _send_when_idle(registry, runtime_id, worker_id, content)
            page = await _succeeds(
                "read_transcript",
                registry.read_transcript(runtime_id, worker_id, start=accepted.transcript_sequence, limit=1),
            )
            _require(
                page.items and page.items[0].sequence == accepted.transcript_sequence and page.items[0].content == content,
                f"InputAccepted says the input is entry {accepted.transcript_sequence}; that entry is "
                f"{page.items[0] if page.items else None!r}",
            )
            if capabilities.read_events:
                events = await _all_events(registry, runtime_id, worker_id=worker_id)
                _require(
                    any(event.id == accepted.event_id for event in events),
                    f"InputAccepted.event_id {accepted.event_id} is not an event of this worker",
                )

        self.run_check(check)

    # -- events ----------------------------------------------------------------------

    def test_event_ids_increase_and_cursors_are_honoured(self) -> None:
        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            capabilities = await _capabilities(registry, runtime_id)
            if not capabilities.read_events:
                pytest.skip("the kind does not read events")
            await self._make_some_events(registry, runtime_id, capabilities)
            one_by_one = await _all_events(registry, runtime_id, limit=1)
            ids = [event.id for event in one_by_one]
            _require(
                all(isinstance(i, int) and not isinstance(i, bool) and i >= 1 for i in ids),
                f"event ids must be positive integers; got {ids[:20]}",
            )
            _require(ids == sorted(set(ids)), f"event ids must increase strictly; read one at a time they are {ids[:50]}")
            for event in one_by_one:
                _require(
                    event.worker_id is None or is_valid_identifier(event.worker_id),
                    f"event {event.id} names the invalid worker id {event.worker_id!r}",
                )
            page_max = (await registry.describe_runtime(runtime_id)).limits.event_page_max
            in_pages = await _all_events(registry, runtime_id, limit=min(page_max, 1000))
            _require([e.id for e in in_pages] == ids, "reading events one at a time and in large pages gave different events")
            for index, event in enumerate(one_by_one[:50]):
                after = await _succeeds(f"read_events(cursor={event.id})", registry.read_events(runtime_id, cursor=event.id, limit=1))
                expected = ids[index + 1 : index + 2]
                _require(
                    [e.id for e in after.events] == expected,
                    f"read_events(cursor={event.id}, limit=1) must give the next event {expected}; "
                    f"it gave {[e.id for e in after.events]}",
                )
            if ids:
                quiet = await _succeeds("read_events at the newest event", registry.read_events(runtime_id, cursor=ids[-1]))
                _require(
                    quiet.events == () and quiet.has_more is False and quiet.next_cursor == ids[-1],
                    f"reading after the newest event ({ids[-1]}) must give no events, has_more false and "
                    f"next_cursor {ids[-1]}; got {len(quiet.events)} events, has_more {quiet.has_more}, "
                    f"next_cursor {quiet.next_cursor}",
                )

        self.run_check(check)

    def test_a_workers_events_are_its_own(self) -> None:
        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            capabilities = await _capabilities(registry, runtime_id)
            if not (capabilities.read_events and capabilities.create_worker):
                pytest.skip("needs read_events and create_worker")
            first = await _succeeds("create_worker", registry.create_worker(runtime_id, CreateWorkerRequest()))
            await self._make_some_events(registry, runtime_id, capabilities)
            everything = await _all_events(registry, runtime_id)
            own = await _all_events(registry, runtime_id, worker_id=first.worker_id, limit=1)
            strangers = sorted({e.worker_id for e in own if e.worker_id != first.worker_id}, key=str)
            _require(not strangers, f"the events of worker {first.worker_id!r} include events of {strangers}")
            expected = [e.id for e in everything if e.worker_id == first.worker_id]
            _require(
                [e.id for e in own] == expected,
                f"one worker's events, read one at a time, must be exactly its events in the runtime's log "
                f"{expected}; got {[e.id for e in own]}",
            )

        self.run_check(check)

    def test_a_cursor_newer_than_any_event_is_expired(self) -> None:
        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            capabilities = await _capabilities(registry, runtime_id)
            if not capabilities.read_events:
                pytest.skip("the kind does not read events")
            await self._make_some_events(registry, runtime_id, capabilities)
            future = await _latest_cursor(registry, runtime_id) + 1_000_000
            await _raises(
                CursorExpired,
                f"read_events(cursor={future}), newer than any event (another runtime's cursor, or a clock set back)",
                registry.read_events(runtime_id, cursor=future),
            )

        self.run_check(check)

    def test_event_ids_are_not_reused_across_restarts(self) -> None:
        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            capabilities = await _capabilities(registry, runtime_id)
            if not capabilities.read_events:
                pytest.skip("the kind does not read events")
            if not (capabilities.create_worker or capabilities.send_input):
                pytest.skip("the kind can neither create workers nor take input, so the check cannot make it issue events")
            # The first run: one action, and the cursor a client holds at the end of it.
            await self._issue_events(registry, runtime_id, capabilities)
            first_run = [event.id for event in await _all_events(registry, runtime_id)]
            if not first_run:
                pytest.skip("creating a worker or sending input issued no event to resume from")
            old_cursor = first_run[-1]
            await registry.close()
            # A clock-based first id needs the clock to move on between runs.
            await asyncio.sleep(RESTART_PAUSE_SECONDS)
            async with self._started_registry() as restarted:
                before = await _latest_cursor(restarted, runtime_id)
                # Enough actions for a kind that restarts its count to reach the old cursor again.
                for _ in range(min(len(first_run) + 1, MAX_RESTART_ACTIONS)):
                    if not await self._issue_events(restarted, runtime_id, capabilities):
                        break
                    if await _latest_cursor(restarted, runtime_id) >= old_cursor:
                        break
                issued = [event.id for event in await _all_events(restarted, runtime_id) if event.id > before]
                _require(issued, "the restarted runtime issued no event for the action that issued one before the restart")
                where = f"read_events(cursor={old_cursor}) after a restart (the newest id before it)"
                try:
                    resumed = await _all_events_after(restarted, runtime_id, old_cursor)
                except CursorExpired:
                    return  # the client is told it missed something: never a silent skip
                except RegistryError as exc:
                    raise ContractViolation(f"{where} must raise CursorExpired or succeed; it raised {_described(exc)}") from exc
                missed = [event_id for event_id in issued if event_id not in resumed]
                _require(
                    not missed,
                    f"{where} must raise CursorExpired or return every event the new run issued; it skipped ids "
                    f"{missed[:10]} (the first run issued up to {old_cursor}, the new run {issued[:10]}): event ids must "
                    f"never be reused across restarts (start each run above the last, e.g. at the clock in microseconds)",
                )

        self.run_check(check)

    def test_waiting_for_events_follows_the_cursor(self) -> None:
        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            capabilities = await _capabilities(registry, runtime_id)
            if not capabilities.stream_events:
                pytest.skip("the kind does not stream events")
            await self._make_some_events(registry, runtime_id, capabilities)
            latest = await _latest_cursor(registry, runtime_id)
            if latest > 0:
                ready = await _succeeds(
                    "wait_for_events with an event after the cursor",
                    registry.wait_for_events(runtime_id, cursor=latest - 1, timeout=self.check_timeout / 4),
                )
                _require(ready is True, "wait_for_events must answer True while an event after the cursor exists")
            quiet = await _succeeds("wait_for_events", registry.wait_for_events(runtime_id, cursor=latest, timeout=0.05))
            if quiet:
                newer = await _succeeds("read_events", registry.read_events(runtime_id, cursor=latest))
                _require(newer.events, "wait_for_events answered True but there is no event after the cursor")
            if not capabilities.create_worker:
                return
            latest = await _latest_cursor(registry, runtime_id)
            waiter = asyncio.ensure_future(registry.wait_for_events(runtime_id, cursor=latest, timeout=self.check_timeout / 4))
            await asyncio.sleep(0.05)
            await _succeeds("create_worker", registry.create_worker(runtime_id, CreateWorkerRequest()))
            arrived = (await _succeeds("read_events", registry.read_events(runtime_id, cursor=latest))).events
            woke = await waiter
            if arrived:
                _require(woke is True, "wait_for_events must wake with True when an event arrives after its cursor")

        self.run_check(check)

    def test_close_wakes_event_waiters(self) -> None:
        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            capabilities = await _capabilities(registry, runtime_id)
            if not capabilities.stream_events:
                pytest.skip("the kind does not stream events")
            latest = await _latest_cursor(registry, runtime_id)
            waiter = asyncio.ensure_future(registry.wait_for_events(runtime_id, cursor=latest, timeout=self.check_timeout))
            await asyncio.sleep(0.05)
            await registry.close()
            done, _ = await asyncio.wait([waiter], timeout=self.close_grace_seconds)
            if not done:
                waiter.cancel()
                raise ContractViolation("wait_for_events must return promptly after close(); it kept waiting")
            await waiter

        self.run_check(check)

    # -- turns: busy, cancel, stop -------------------------------------------------------

    def test_input_while_busy_is_refused_and_not_queued(self) -> None:
        request = self.slow_turn_request()
        if request is None:
            pytest.skip("slow_turn_request() gives no slow workers")

        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            capabilities = await _capabilities(registry, runtime_id)
            worker_id = await self._a_worker(registry, runtime_id, request)
            results = await asyncio.gather(
                *(registry.send_input(runtime_id, worker_id, InputRequest(f"conformance-{i}")) for i in range(10)),
                return_exceptions=True,
            )
            accepted = [r for r in results if not isinstance(r, BaseException)]
            refused = [r for r in results if isinstance(r, BaseException)]
            _require(len(accepted) == 1, f"of ten concurrent inputs to one worker exactly one must be accepted; {len(accepted)} were")
            wrong = [type(r).__name__ for r in refused if not isinstance(r, WorkerBusy)]
            _require(not wrong, f"inputs refused while a turn runs must raise WorkerBusy; got {wrong}")
            if capabilities.read_transcript:
                await _settle(registry, runtime_id, worker_id)
                contents = [e.content for e in await _walk_transcript(registry, runtime_id, worker_id, limit=100)]
                queued = [f"conformance-{i}" for i in range(10) if f"conformance-{i}" in contents]
                _require(len(queued) == 1, f"refused inputs must not be queued; the transcript holds {queued}")

        self.run_check(check)

    def test_cancel_ends_the_turn_and_keeps_the_worker(self) -> None:
        request = self.slow_turn_request()
        if request is None:
            pytest.skip("slow_turn_request() gives no slow workers")

        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            capabilities = await _capabilities(registry, runtime_id)
            if not (capabilities.cancel_worker and capabilities.send_input):
                pytest.skip("needs cancel_worker and send_input")
            worker_id = await self._a_worker(registry, runtime_id, request)
            await _succeeds("send_input", registry.send_input(runtime_id, worker_id, InputRequest("conformance")))
            result = await _succeeds("cancel_worker during a turn", registry.cancel_worker(runtime_id, worker_id))
            _check_action(result, worker_id, "cancel")
            _require(result.changed is True, "cancel during a turn must answer changed=true")
            await _succeeds(
                "send_input right after cancel (the worker stays usable)",
                registry.send_input(runtime_id, worker_id, InputRequest("after cancel")),
            )

        self.run_check(check)

    def test_cancel_while_idle_changes_nothing(self) -> None:
        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            capabilities = await _capabilities(registry, runtime_id)
            if not (capabilities.cancel_worker and capabilities.create_worker):
                pytest.skip("needs cancel_worker and create_worker")
            worker_id = await self._a_worker(registry, runtime_id)
            result = await _succeeds("cancel_worker of an idle worker", registry.cancel_worker(runtime_id, worker_id))
            _check_action(result, worker_id, "cancel")
            _require(result.changed is False, "cancel of a worker with no turn must answer changed=false")

        self.run_check(check)

    def test_stop_is_final_and_idempotent(self) -> None:
        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            capabilities = await _capabilities(registry, runtime_id)
            if not capabilities.stop_worker:
                pytest.skip("the kind does not stop workers")
            worker_id = await self._a_worker(registry, runtime_id)
            first = await _succeeds("stop_worker", registry.stop_worker(runtime_id, worker_id))
            _check_action(first, worker_id, "stop")
            again = await _succeeds("a second stop_worker", registry.stop_worker(runtime_id, worker_id))
            _check_action(again, worker_id, "stop")
            _require(again.changed is False, "a second stop must answer changed=false (stop is idempotent)")
            if capabilities.send_input:
                await _raises(WorkerStopped, "send_input to a stopped worker", registry.send_input(runtime_id, worker_id, InputRequest("late")))
            if capabilities.cancel_worker:
                await _raises(WorkerStopped, "cancel_worker of a stopped worker", registry.cancel_worker(runtime_id, worker_id))

        self.run_check(check)

    def test_a_deleted_worker_is_gone_for_good(self) -> None:
        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            capabilities = await _capabilities(registry, runtime_id)
            if not (capabilities.delete_worker and capabilities.create_worker):
                pytest.skip("needs delete_worker and create_worker")
            doomed = await _succeeds("create_worker", registry.create_worker(runtime_id, CreateWorkerRequest()))
            kept = await _succeeds("create_worker", registry.create_worker(runtime_id, CreateWorkerRequest()))
            if capabilities.send_input:
                await _succeeds("send_input", registry.send_input(runtime_id, doomed.worker_id, InputRequest("conformance")))
            result = await _succeeds("delete_worker", registry.delete_worker(runtime_id, doomed.worker_id))
            _check_action(result, doomed.worker_id, "delete")
            _require(result.changed is True, "a delete must answer changed=true (it always removes the worker)")
            for name, call in _worker_operations(registry, runtime_id, doomed.worker_id).items():
                if getattr(capabilities, name):
                    await _raises(UnknownWorker, f"{name} of a deleted worker", call())
            if capabilities.list_workers:
                listed = [worker.worker_id for worker in await _all_workers(registry, runtime_id, limit=1)]
                _require(doomed.worker_id not in listed, "list_workers still lists a deleted worker")
                _require(kept.worker_id in listed, "list_workers lost a worker when another one was deleted")
            later = [await _succeeds("create_worker", registry.create_worker(runtime_id, CreateWorkerRequest())) for _ in range(3)]
            _require(
                doomed.worker_id not in {worker.worker_id for worker in later},
                f"a new worker was given the deleted worker's id {doomed.worker_id!r}: ids must never be reused",
            )

        self.run_check(check)

    # -- leaks ---------------------------------------------------------------------------

    def test_everything_returned_becomes_json(self) -> None:
        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            for what, value in await self._everything_returned(registry, runtime_id):
                try:
                    json.dumps(unstructure(value), allow_nan=False)
                except Exception as exc:  # whatever the converter or encoder trips on
                    raise ContractViolation(
                        f"{what} returned data that cannot become JSON ({type(exc).__name__}: {exc}); "
                        f"fields must have their declared types, event data only JSON values"
                    ) from exc

        self.run_check(check)

    def test_nothing_returned_looks_like_a_path(self) -> None:
        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            for what, value in await self._everything_returned(registry, runtime_id):
                try:
                    data = unstructure(value)
                except Exception:
                    continue  # not JSON at all: test_everything_returned_becomes_json says so
                leaks = find_path_like(data)
                _require(not leaks, f"{what} returned data must not contain paths, sockets or file URLs; found {leaks[:5]}")

        self.run_check(check)

    async def _everything_returned(self, registry: RuntimeRegistry, runtime_id: str) -> list[tuple[str, Any]]:
        """What each operation the kind supports returns, by operation (typed errors as their JSON bodies)."""
        capabilities = await _capabilities(registry, runtime_id)
        returned: list[tuple[str, Any]] = [("describe", await registry.describe_runtime(runtime_id))]
        worker_id = await self._a_worker(registry, runtime_id, required=False)
        if worker_id is not None:
            if capabilities.get_worker:
                returned.append(("get_worker", await _succeeds("get_worker", registry.get_worker(runtime_id, worker_id))))
            if capabilities.send_input:
                returned.append(("send_input", await _send_when_idle(registry, runtime_id, worker_id, "conformance")))
                await _settle(registry, runtime_id, worker_id)
            if capabilities.read_transcript:
                returned.append(("read_transcript", await _walk_transcript(registry, runtime_id, worker_id, limit=100)))
            if capabilities.cancel_worker:
                returned.append(("cancel_worker", await _succeeds("cancel_worker", registry.cancel_worker(runtime_id, worker_id))))
        if capabilities.list_workers:
            returned.append(("list_workers", await _all_workers(registry, runtime_id, limit=100)))
        if capabilities.read_events:
            returned.append(("read_events", await _all_events(registry, runtime_id)))
        for name, call in _worker_operations(registry, runtime_id, MISSING_WORKER).items():
            try:
                await call()
            except RegistryError as exc:
                returned.append((f"the error of {name}", exc.to_dict()))
        return returned

    # -- helpers for subclasses' data ------------------------------------------------------

    async def _issue_events(self, registry: RuntimeRegistry, runtime_id: str, capabilities: Capabilities) -> bool:
        """One action that issues events: create a worker, or else send input to one. ``False`` at capacity."""
        if capabilities.create_worker:
            try:
                await registry.create_worker(runtime_id, CreateWorkerRequest())
            except CapacityExceeded:
                return False
            except RegistryError as exc:
                raise ContractViolation(f"create_worker must succeed; it raised {_described(exc)}") from exc
            return True
        worker_id = await self._a_worker(registry, runtime_id)
        await _send_when_idle(registry, runtime_id, worker_id, "conformance restart")
        await _settle(registry, runtime_id, worker_id)
        return True


    async def _make_some_events(self, registry: RuntimeRegistry, runtime_id: str, capabilities: Capabilities) -> None:
        """Do what a kind can do so that it has events to read: create workers, send an input."""
        if not capabilities.create_worker:
            return
        workers = [await _succeeds("create_worker", registry.create_worker(runtime_id, CreateWorkerRequest())) for _ in range(2)]
        if capabilities.send_input:
            await _send_when_idle(registry, runtime_id, workers[-1].worker_id, "conformance events")
            await _settle(registry, runtime_id, workers[-1].worker_id)


# -- module helpers ---------------------------------------------------------------------------


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


async def _capabilities(registry: RuntimeRegistry, runtime_id: str) -> Capabilities:
    return (await registry.describe_runtime(runtime_id)).capabilities


def _check_worker(worker: Worker) -> None:
    _require(is_valid_identifier(worker.worker_id), f"worker id {worker.worker_id!r} breaks the id rules (1-120 of A-Z a-z 0-9 - _ :)")
    _require(isinstance(worker.status, str) and worker.status, f"worker {worker.worker_id!r} has no status")
    _require(
        isinstance(worker.transcript_length, int) and not isinstance(worker.transcript_length, bool) and worker.transcript_length >= 0,
        f"worker {worker.worker_id!r} has transcript_length {worker.transcript_length!r}",
    )


def _check_action(result: WorkerActionResult, worker_id: str, action: str) -> None:
    _require(
        (result.worker_id, result.action) == (worker_id, action) and isinstance(result.changed, bool),
        f"{action}_worker({worker_id!r}) must answer action {action!r} for that worker with a bool 'changed'; "
        f"got action {result.action!r} for {result.worker_id!r}, changed {result.changed!r}",
    )


def _worker_operations(registry: RuntimeRegistry, runtime_id: str, worker_id: str) -> dict[str, Callable[[], Awaitable[Any]]]:
    """Every operation on one worker, by capability name."""
    return {
        "get_worker": lambda: registry.get_worker(runtime_id, worker_id),
        "send_input": lambda: registry.send_input(runtime_id, worker_id, InputRequest("conformance")),
        "cancel_worker": lambda: registry.cancel_worker(runtime_id, worker_id),
        "stop_worker": lambda: registry.stop_worker(runtime_id, worker_id),
        "delete_worker": lambda: registry.delete_worker(runtime_id, worker_id),
        "read_transcript": lambda: registry.read_transcript(runtime_id, worker_id, limit=1),
        "read_events": lambda: registry.read_events(runtime_id, worker_id=worker_id, limit=1),
    }


async def _all_workers(registry: RuntimeRegistry, runtime_id: str, *, limit: int) -> list[Worker]:
    """Every worker, page by page, checking that pages are bounded and cursors advance."""
    page_max = (await registry.describe_runtime(runtime_id)).limits.worker_page_max
    limit = min(limit, page_max)
    workers: list[Worker] = []
    cursor: str | None = None
    seen_cursors: set[str] = set()
    for _ in range(MAX_PAGES):
        page: WorkerPage = await _succeeds("list_workers", registry.list_workers(runtime_id, limit=limit, cursor=cursor))
        _require(len(page.items) <= limit, f"list_workers(limit={limit}) returned {len(page.items)} workers")
        workers.extend(page.items)
        if page.next_cursor is None:
            return workers
        _require(page.items, "list_workers returned an empty page with a next_cursor: an empty page must end the list")
        _require(page.next_cursor not in seen_cursors, f"list_workers returned the cursor {page.next_cursor!r} twice")
        seen_cursors.add(page.next_cursor)
        cursor = page.next_cursor
    raise ContractViolation(f"list_workers did not reach next_cursor None in {MAX_PAGES} pages")


async def _walk_transcript(registry: RuntimeRegistry, runtime_id: str, worker_id: str, *, limit: int) -> list[TranscriptEntry]:
    """The whole transcript, page by page, checking every paging invariant on the way."""
    limit = min(limit, (await registry.describe_runtime(runtime_id)).limits.transcript_page_max)
    entries: list[TranscriptEntry] = []
    start, total = 1, None
    for _ in range(MAX_PAGES):
        page: TranscriptPage = await _succeeds(
            f"read_transcript(start={start}, limit={limit})",
            registry.read_transcript(runtime_id, worker_id, start=start, limit=limit),
        )
        where = f"read_transcript(start={start}, limit={limit})"
        _require(page.worker_id == worker_id, f"{where} answered for worker {page.worker_id!r}")
        _require((page.start, page.limit) == (start, limit), f"{where} must echo start and limit; it said {page.start}, {page.limit}")
        _require(len(page.items) <= limit, f"{where} returned {len(page.items)} entries")
        sequences = [entry.sequence for entry in page.items]
        _require(
            sequences == list(range(start, start + len(sequences))),
            f"{where} must return sequences from {start} without gaps; it returned {sequences}",
        )
        _require(total is None or page.total == total, f"the transcript total changed from {total} to {page.total} at rest")
        total = page.total
        end = start + len(page.items)
        expected_next = end if page.items and end <= total else None
        _require(
            page.next_start == expected_next,
            f"{where} returned entries {sequences} of {total}: next_start must be {expected_next}, not {page.next_start}",
        )
        for entry in page.items:
            _require(isinstance(entry.role, str) and entry.role, f"transcript entry {entry.sequence} has no role")
            _require(isinstance(entry.content, str), f"transcript entry {entry.sequence} has non-text content")
        entries.extend(page.items)
        if page.next_start is None:
            _require(len(entries) == total, f"the transcript says total {total} but {len(entries)} entries were read")
            return entries
        start = page.next_start
    raise ContractViolation(f"read_transcript did not reach next_start None in {MAX_PAGES} pages")


async def _all_events(
    registry: RuntimeRegistry, runtime_id: str, *, worker_id: str | None = None, limit: int | None = None
) -> list[Event]:
    """Every retained event from the oldest, page by page, checking pages and cursors on the way."""
    events: list[Event] = []
    cursor: int | None = None
    for _ in range(MAX_PAGES):
        where = f"read_events(cursor={cursor}, limit={limit}{', worker_id=' + repr(worker_id) if worker_id else ''})"
        page: EventPage = await _succeeds(where, registry.read_events(runtime_id, cursor=cursor, limit=limit, worker_id=worker_id))
        if limit is not None:
            _require(len(page.events) <= limit, f"{where} returned {len(page.events)} events")
        ids = [event.id for event in page.events]
        _require(
            cursor is None or all(i > cursor for i in ids),
            f"{where} must return only events after the cursor; it returned ids {ids}",
        )
        _require(
            isinstance(page.next_cursor, int) and not isinstance(page.next_cursor, bool),
            f"{where} returned next_cursor {page.next_cursor!r}; it must be an integer",
        )
        _require(not ids or page.next_cursor >= ids[-1], f"{where} returned ids {ids} but next_cursor {page.next_cursor}")
        _require(cursor is None or page.next_cursor >= cursor, f"{where} moved the cursor back to {page.next_cursor}")
        events.extend(page.events)
        if not page.has_more:
            return events
        _require(page.next_cursor != cursor, f"{where} says has_more but its next_cursor did not advance")
        cursor = page.next_cursor
    raise ContractViolation(f"read_events kept saying has_more for {MAX_PAGES} pages")


async def _all_events_after(registry: RuntimeRegistry, runtime_id: str, cursor: int) -> list[int]:
    """The ids of every event after ``cursor``, page by page; :class:`CursorExpired` propagates."""
    ids: list[int] = []
    for _ in range(MAX_PAGES):
        page: EventPage = await registry.read_events(runtime_id, cursor=cursor)
        ids.extend(event.id for event in page.events)
        if not page.has_more or page.next_cursor == cursor:
            return ids
        cursor = page.next_cursor
    raise ContractViolation(f"read_events kept saying has_more for {MAX_PAGES} pages")


async def _latest_cursor(registry: RuntimeRegistry, runtime_id: str) -> int:
    """The newest event id (0 when there is none)."""
    events = await _all_events(registry, runtime_id)
    return events[-1].id if events else 0


async def _settle(registry: RuntimeRegistry, runtime_id: str, worker_id: str) -> None:
    """Wait until the worker's turn (if any) has ended: its status is no longer ``busy``."""
    capabilities = await _capabilities(registry, runtime_id)
    if not capabilities.get_worker:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TURN_SETTLE_SECONDS
    while (await _succeeds("get_worker", registry.get_worker(runtime_id, worker_id))).status == "busy":
        if loop.time() > deadline:
            raise ContractViolation(f"worker {worker_id!r} stayed busy for {TURN_SETTLE_SECONDS:g} s after one input")
        await asyncio.sleep(0.01)


async def _send_when_idle(registry: RuntimeRegistry, runtime_id: str, worker_id: str, content: str):
    """Send input, waiting out a running turn (up to :data:`TURN_SETTLE_SECONDS`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TURN_SETTLE_SECONDS
    while True:
        try:
            return await registry.send_input(runtime_id, worker_id, InputRequest(content))
        except WorkerBusy:
            if loop.time() > deadline:
                raise ContractViolation(f"worker {worker_id!r} stayed busy for {TURN_SETTLE_SECONDS:g} s") from None
            await asyncio.sleep(0.01)
        except RegistryError as exc:
            raise ContractViolation(f"send_input must succeed on an idle worker; it raised {_described(exc)}") from exc


# -- pytest plugin (``pytest -p runtime_registry.testing.conformance``) -------------------------------


def pytest_report_header(config: pytest.Config) -> str:
    """Name the suite in pytest's header when it is loaded as a plugin."""
    checks = sorted(name for name in vars(RuntimeConformance) if name.startswith("test_"))
    return f"runtime-registry conformance suite: {len(checks)} checks"
