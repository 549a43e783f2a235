"""A conformance suite for runtime kinds: subclass it in your tests.

Example (``tests/test_conformance.py`` of a plugin package)::

    from registry_core.conformance import RuntimeConformance
    from acme_runtime.plugin import AcmeProvider, AcmeSettings

    class TestAcmeConformance(RuntimeConformance):
        def make_provider(self, runtime_id):
            return AcmeProvider(runtime_id, AcmeSettings())

pytest collects every ``test_*`` method below against your provider. Each
check builds fresh providers inside its own event loop, registers them in a
real :class:`~registry_core.RuntimeRegistry` (so results also pass the
registry's shape checks) and exercises the contract: summary shape, truthful
capabilities, valid ids, routing by ``runtime_id + worker_id``, transcript
paging, event cursors, typed errors, and no path-like strings in anything
returned. Checks that need an operation your kind does not support skip.

Hooks to override:

- :meth:`make_provider` (required);
- :meth:`existing_worker_id` for kinds that cannot create workers: an id the
  provider lists (return ``None`` to skip worker checks);
- :meth:`slow_turn_request` to enable the busy check: a create request whose
  workers take at least ~0.2 s per turn.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from registry_core.errors import CursorExpired, UnknownWorker, UnsupportedOperation, WorkerBusy, WorkerStopped
from registry_core.converter import unstructure
from registry_core.identifiers import is_valid_identifier
from registry_core.models import (
    CreateWorkerRequest,
    EventPage,
    InputRequest,
    RuntimeStatus,
    RuntimeSummary,
    TranscriptPage,
    WorkerPage,
)
from registry_core.provider import OPERATIONS, RuntimeProvider
from registry_core.registry import RuntimeRegistry

__all__ = ["RuntimeConformance", "find_path_like"]

# Absolute POSIX paths (two segments or more), home-relative paths, Windows
# drive paths, socket files and file URLs.
_PATH_LIKE = re.compile(r"(?:^|[\s\"'=(])(?:/[^\s/]+/[^\s]*|~/\S*|[A-Za-z]:\\\S*)|\.sock\b|file://")


def find_path_like(data: Any) -> list[str]:
    """Every string inside ``data`` (JSON-like) that looks like a path or socket."""
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


Check = Callable[[RuntimeRegistry, str], Awaitable[None]]


class RuntimeConformance:
    """Contract checks for one runtime kind. Subclass and implement :meth:`make_provider`."""

    #: How long a single check may run before it fails.
    check_timeout: float = 20.0

    def make_provider(self, runtime_id: str) -> RuntimeProvider:
        """Return a new, not yet started provider of your kind for ``runtime_id``."""
        raise NotImplementedError("implement make_provider(runtime_id) in your conformance class")

    def existing_worker_id(self, provider: RuntimeProvider) -> str | None:
        """An id of a worker the provider has without creating one (for read-only kinds)."""
        return None

    def slow_turn_request(self) -> CreateWorkerRequest | None:
        """A create request whose workers stay busy for a while after input (enables the busy check)."""
        return None

    # -- plumbing ----------------------------------------------------------------

    def run_check(self, check: Check, *, runtimes: int = 1) -> None:
        """Run ``check(registry, first_runtime_id)`` in a fresh loop against fresh providers."""

        async def main() -> None:
            registry = RuntimeRegistry(call_timeout=self.check_timeout / 2)
            for index in range(runtimes):
                registry.register(self.make_provider(f"conformance-{index}"))
            async with registry:
                async with asyncio.timeout(self.check_timeout):
                    await check(registry, "conformance-0")

        asyncio.run(main())

    async def _capabilities(self, registry: RuntimeRegistry, runtime_id: str):
        return (await registry.describe_runtime(runtime_id)).capabilities

    async def _a_worker(self, registry: RuntimeRegistry, runtime_id: str, request: CreateWorkerRequest | None = None) -> str:
        capabilities = await self._capabilities(registry, runtime_id)
        if capabilities.create_worker:
            return (await registry.create_worker(runtime_id, request or CreateWorkerRequest())).worker_id
        worker_id = self.existing_worker_id(registry.provider(runtime_id))
        if worker_id is None:
            pytest.skip("the kind cannot create workers and existing_worker_id() gave none")
        return worker_id

    # -- the checks ----------------------------------------------------------------

    def test_summary_has_the_contract_shape(self) -> None:
        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            summary = await registry.describe_runtime(runtime_id)
            assert isinstance(summary, RuntimeSummary)
            assert summary.kind == registry.provider(runtime_id).kind
            assert summary.status in (RuntimeStatus.RUNNING, RuntimeStatus.DEGRADED)
            limits = summary.limits
            for page_max in (limits.worker_page_max, limits.transcript_page_max, limits.event_page_max):
                assert isinstance(page_max, int) and page_max >= 1
            json.dumps(unstructure(summary))

        self.run_check(check)

    def test_false_capabilities_answer_unsupported(self) -> None:
        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            capabilities = await self._capabilities(registry, runtime_id)
            provider = registry.provider(runtime_id)
            calls = {
                "list_workers": lambda: provider.list_workers(limit=1, cursor=None),
                "get_worker": lambda: provider.get_worker("conformance-worker"),
                "create_worker": lambda: provider.create_worker(CreateWorkerRequest()),
                "send_input": lambda: provider.send_input("conformance-worker", InputRequest("hi")),
                "cancel_worker": lambda: provider.cancel_worker("conformance-worker"),
                "stop_worker": lambda: provider.stop_worker("conformance-worker"),
                "read_transcript": lambda: provider.read_transcript("conformance-worker", start=1, limit=1),
                "read_events": lambda: provider.read_events(cursor=None, limit=1),
            }
            assert set(calls) == set(OPERATIONS)
            for name, call in calls.items():
                if not getattr(capabilities, name):
                    with pytest.raises(UnsupportedOperation):
                        await call()
            if not capabilities.stream_events:
                with pytest.raises(UnsupportedOperation):
                    await provider.wait_for_events(cursor=0, timeout=0.01)

        self.run_check(check)

    def test_true_capabilities_work(self) -> None:
        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            capabilities = await self._capabilities(registry, runtime_id)
            if capabilities.list_workers:
                assert isinstance(await registry.list_workers(runtime_id, limit=1), WorkerPage)
            if not (capabilities.create_worker or self.existing_worker_id(registry.provider(runtime_id))):
                return
            worker_id = await self._a_worker(registry, runtime_id)
            if capabilities.get_worker:
                assert (await registry.get_worker(runtime_id, worker_id)).worker_id == worker_id
            if capabilities.read_transcript:
                assert isinstance(await registry.read_transcript(runtime_id, worker_id, limit=1), TranscriptPage)
            if capabilities.read_events:
                assert isinstance(await registry.read_events(runtime_id, limit=1), EventPage)
            if capabilities.stream_events:
                assert isinstance(await registry.wait_for_events(runtime_id, cursor=0, timeout=0.01), bool)
            if capabilities.send_input:
                accepted = await registry.send_input(runtime_id, worker_id, InputRequest("conformance"))
                assert accepted.worker_id == worker_id and accepted.transcript_sequence >= 1
            if capabilities.cancel_worker:
                await registry.cancel_worker(runtime_id, worker_id)
            if capabilities.stop_worker:
                assert (await registry.stop_worker(runtime_id, worker_id)).worker_id == worker_id

        self.run_check(check)

    def test_every_listed_worker_has_a_valid_id_and_this_runtime(self) -> None:
        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            capabilities = await self._capabilities(registry, runtime_id)
            if not capabilities.list_workers:
                pytest.skip("the kind does not list workers")
            if capabilities.create_worker:
                for _ in range(3):
                    await registry.create_worker(runtime_id, CreateWorkerRequest())
            cursor, seen = None, []
            for _ in range(1000):
                page = await registry.list_workers(runtime_id, limit=2, cursor=cursor)
                seen.extend(page.items)
                cursor = page.next_cursor
                if cursor is None:
                    break
            assert all(is_valid_identifier(w.worker_id) and w.runtime_id == runtime_id for w in seen)
            assert len({w.worker_id for w in seen}) == len(seen), "a worker was listed twice"

        self.run_check(check)

    def test_unknown_worker_is_a_typed_error(self) -> None:
        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            capabilities = await self._capabilities(registry, runtime_id)
            missing = "conformance-no-such-worker"
            operations = {
                "get_worker": lambda: registry.get_worker(runtime_id, missing),
                "send_input": lambda: registry.send_input(runtime_id, missing, InputRequest("hi")),
                "cancel_worker": lambda: registry.cancel_worker(runtime_id, missing),
                "stop_worker": lambda: registry.stop_worker(runtime_id, missing),
                "read_transcript": lambda: registry.read_transcript(runtime_id, missing),
            }
            for name, call in operations.items():
                if getattr(capabilities, name):
                    with pytest.raises(UnknownWorker):
                        await call()

        self.run_check(check)

    def test_a_worker_is_unknown_in_another_runtime(self) -> None:
        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            capabilities = await self._capabilities(registry, runtime_id)
            if not (capabilities.create_worker and capabilities.get_worker):
                pytest.skip("needs create_worker and get_worker")
            worker = await registry.create_worker(runtime_id, CreateWorkerRequest())
            with pytest.raises(UnknownWorker):
                await registry.get_worker("conformance-1", worker.worker_id)

        self.run_check(check, runtimes=2)

    def test_transcript_pages_are_gapless_and_bounded(self) -> None:
        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            capabilities = await self._capabilities(registry, runtime_id)
            if not capabilities.read_transcript:
                pytest.skip("the kind does not read transcripts")
            worker_id = await self._a_worker(registry, runtime_id)
            if capabilities.send_input:
                await _send_when_idle(registry, runtime_id, worker_id, "first")
                await _send_when_idle(registry, runtime_id, worker_id, "second")
            sequences, start = [], 1
            for _ in range(10_000):
                page = await registry.read_transcript(runtime_id, worker_id, start=start, limit=1)
                assert len(page.items) <= 1
                sequences.extend(entry.sequence for entry in page.items)
                if page.next_start is None:
                    break
                start = page.next_start
            assert sequences == list(range(1, len(sequences) + 1))
            assert page.total == len(sequences)
            beyond = await registry.read_transcript(runtime_id, worker_id, start=page.total + 5, limit=1)
            assert beyond.items == () and beyond.next_start is None

        self.run_check(check)

    def test_event_ids_increase_and_cursors_are_honoured(self) -> None:
        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            capabilities = await self._capabilities(registry, runtime_id)
            if not capabilities.read_events:
                pytest.skip("the kind does not read events")
            if capabilities.create_worker:
                for _ in range(3):
                    await registry.create_worker(runtime_id, CreateWorkerRequest())
            page = await registry.read_events(runtime_id)
            ids = [event.id for event in page.events]
            assert ids == sorted(set(ids)), "event ids must increase strictly"
            if ids:
                after = await registry.read_events(runtime_id, cursor=ids[0])
                assert all(event.id > ids[0] for event in after.events)
                assert page.next_cursor >= ids[-1]
                with pytest.raises(CursorExpired):
                    await registry.read_events(runtime_id, cursor=ids[-1] + 1_000_000)

        self.run_check(check)

    def test_input_while_busy_is_refused(self) -> None:
        request = self.slow_turn_request()
        if request is None:
            pytest.skip("slow_turn_request() gives no slow profile")

        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            worker_id = await self._a_worker(registry, runtime_id, request)
            results = await asyncio.gather(
                *(registry.send_input(runtime_id, worker_id, InputRequest(f"n{i}")) for i in range(10)),
                return_exceptions=True,
            )
            accepted = [r for r in results if not isinstance(r, BaseException)]
            assert len(accepted) == 1
            assert all(isinstance(r, WorkerBusy) for r in results if isinstance(r, BaseException))

        self.run_check(check)

    def test_stopped_worker_refuses_input(self) -> None:
        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            capabilities = await self._capabilities(registry, runtime_id)
            if not (capabilities.stop_worker and capabilities.send_input):
                pytest.skip("needs stop_worker and send_input")
            worker_id = await self._a_worker(registry, runtime_id)
            await registry.stop_worker(runtime_id, worker_id)
            again = await registry.stop_worker(runtime_id, worker_id)
            assert again.changed is False, "stop must be idempotent"
            with pytest.raises(WorkerStopped):
                await registry.send_input(runtime_id, worker_id, InputRequest("late"))

        self.run_check(check)

    def test_nothing_returned_looks_like_a_path(self) -> None:
        async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
            capabilities = await self._capabilities(registry, runtime_id)
            returned: list[Any] = [await registry.describe_runtime(runtime_id)]
            if capabilities.list_workers:
                returned.append(await registry.list_workers(runtime_id))
            if capabilities.create_worker or self.existing_worker_id(registry.provider(runtime_id)):
                worker_id = await self._a_worker(registry, runtime_id)
                if capabilities.get_worker:
                    returned.append(await registry.get_worker(runtime_id, worker_id))
                if capabilities.read_transcript:
                    returned.append(await registry.read_transcript(runtime_id, worker_id))
            if capabilities.read_events:
                returned.append(await registry.read_events(runtime_id))
            assert find_path_like(unstructure(returned)) == []

        self.run_check(check)


async def _send_when_idle(registry: RuntimeRegistry, runtime_id: str, worker_id: str, content: str) -> None:
    """Send input, waiting out a running turn (up to ~5 s)."""
    for _ in range(500):
        try:
            await registry.send_input(runtime_id, worker_id, InputRequest(content))
            return
        except WorkerBusy:
            await asyncio.sleep(0.01)
    raise AssertionError("the worker stayed busy for 5 s")
