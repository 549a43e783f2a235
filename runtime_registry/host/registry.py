"""The :class:`RuntimeRegistry`: providers by ``runtime_id``, and every call guarded.

A request is a dictionary lookup and a direct ``await provider.op(...)``;
pluggy is not on this path. Around that call the registry:

- validates ids and page limits before any provider sees them;
- routes by ``runtime_id`` + ``worker_id`` (a worker id from runtime A is
  simply unknown to runtime B's provider);
- bounds the call with a timeout (``RuntimeTimeout``), turns any unexpected
  exception into ``RuntimeUnavailable`` (details to the log, not the client),
  and checks that what came back is the model it should be and names this
  runtime.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import json
import logging
import warnings
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, cast

import attrs

from registry_core.errors import (
    InvalidCursor,
    InvalidRequest,
    LimitTooLarge,
    RegistryError,
    RuntimeTimeout,
    RuntimeUnavailable,
    UnknownRuntime,
    UnsupportedOperation,
)
from registry_core.identifiers import validate_identifier
from registry_core.live import LiveSubscription
from registry_core.models import (
    Capabilities,
    CreateWorkerRequest,
    Diagnostic,
    EventPage,
    InputAccepted,
    InputRequest,
    PluginRef,
    ProfileInfo,
    ProfileList,
    RuntimeList,
    RuntimeState,
    RuntimeStatus,
    RuntimeSummary,
    Severity,
    TranscriptPage,
    Worker,
    WorkerActionResult,
    WorkerFilter,
    WorkerOverview,
    WorkerPage,
)
from registry_core.provider import OPERATIONS, RuntimeProvider, capabilities_of, filters_natively
from runtime_registry.host.call_guard import run_bounded

__all__ = ["RuntimeRegistry", "EventStreamStart", "DEFAULT_PAGE_SIZE", "OVERVIEW_PAGE_MAX"]

log = logging.getLogger("runtime_registry.host.registry")

#: The plugin of a runtime added without one (tests, embedding applications).
UNKNOWN_PLUGIN = PluginRef("unknown", "0")

T = TypeVar("T")

#: The page size used when a caller gives no ``limit`` (capped by the runtime's maximum).
DEFAULT_PAGE_SIZE = 50
#: The largest page of the cross-runtime worker overview.
OVERVIEW_PAGE_MAX = 500
#: How many ``list_workers`` calls one filtered page may make of a kind that does not filter
#: itself (decision 0200): past it the page is cut short, with its cursor, so one request's
#: work stays bounded however few workers match.
HOST_FILTER_CALLS = 16

# The nine flags of v0; the later ones default to false, busy_policies to reject only.
_NO_CAPABILITIES = Capabilities(False, False, False, False, False, False, False, False, False)


# A runtime's lifecycle as one state object per stage. Only _Running is
# usable, and it always holds a provider: a call path that has one cannot
# reach a runtime without a provider (one that failed to be built).


@attrs.frozen
class _Created:
    """Registered, not started yet."""

    provider: RuntimeProvider


@attrs.frozen
class _Running:
    """Started: the only state that takes calls."""

    provider: RuntimeProvider


@attrs.frozen
class _Failed:
    """Could not be built or started; ``reason`` is one client-safe line."""

    reason: str
    provider: RuntimeProvider | None = None


@attrs.frozen
class _Closed:
    """Closed by :meth:`RuntimeRegistry.close`."""

    provider: RuntimeProvider


_State = _Created | _Running | _Failed | _Closed


@attrs.define
class _Runtime:
    """One registered runtime: its identity and the state of its lifecycle."""

    runtime_id: str
    display_name: str
    kind: str
    plugin: PluginRef
    state: _State
    #: ``(operation, exception type)`` failures already logged with their traceback. A runtime that
    #: keeps failing the same way (the status watcher asks every few seconds) logs it once at ERROR,
    #: then at DEBUG, so the log is not a traceback every few seconds.
    logged_failures: set[tuple[str, str]] = attrs.field(factory=set)

    @property
    def capabilities(self) -> Capabilities:
        """What the provider does now: its class's operations, narrowed if it offered less (decision 0096)."""
        provider: RuntimeProvider | None = getattr(self.state, "provider", None)
        return provider.capabilities if provider is not None else _NO_CAPABILITIES


@attrs.frozen
class EventStreamStart:
    """What a live stream starts from (:meth:`RuntimeRegistry.open_event_stream`).

    :param first: the first page, after the resume cursor.
    :param page_max: the runtime's largest event page, for the pages that follow.
    """

    first: EventPage
    page_max: int


class RuntimeRegistry:
    """Holds runtime providers by id and routes every operation to the right one.

    :param call_timeout: seconds a provider call may take before it becomes
        ``RuntimeTimeout`` (start and close get the same bound).

    Use it as an async context manager, or call :meth:`start` and :meth:`close`.
    """

    def __init__(self, *, call_timeout: float = 10.0) -> None:
        if call_timeout <= 0:
            raise ValueError("call_timeout must be positive")
        self.call_timeout = call_timeout
        self._runtimes: dict[str, _Runtime] = {}

    # -- registration --------------------------------------------------------

    def register(
        self,
        provider: RuntimeProvider,
        *,
        display_name: str | None = None,
        plugin: PluginRef = UNKNOWN_PLUGIN,
    ) -> None:
        """Add a provider under its ``provider.runtime_id``; ids must be unique and valid."""
        runtime_id = self._new_runtime_id(provider.runtime_id)
        if not provider.kind:
            raise ValueError(f"{type(provider).__name__} sets no 'kind'")
        self._runtimes[runtime_id] = _Runtime(
            runtime_id=runtime_id,
            display_name=display_name or runtime_id,
            kind=provider.kind,
            plugin=plugin,
            state=_Created(provider),
        )

    def register_unavailable(
        self,
        runtime_id: str,
        *,
        kind: str,
        reason: str,
        display_name: str | None = None,
        plugin: PluginRef = UNKNOWN_PLUGIN,
    ) -> None:
        """Add a runtime that could not be built, so clients see it as ``unavailable``.

        :param reason: one client-safe line (no exception text, no paths).
        """
        runtime_id = self._new_runtime_id(runtime_id)
        self._runtimes[runtime_id] = _Runtime(
            runtime_id=runtime_id,
            display_name=display_name or runtime_id,
            kind=kind,
            plugin=plugin,
            state=_Failed(reason),
        )

    def _new_runtime_id(self, runtime_id: str) -> str:
        validate_identifier(runtime_id, field="runtime_id")
        if runtime_id in self._runtimes:
            raise ValueError(f"runtime id {runtime_id!r} is registered twice")
        return runtime_id

    @property
    def runtime_ids(self) -> tuple[str, ...]:
        """Registered runtime ids, in registration order."""
        return tuple(self._runtimes)

    def configuration_warnings(self) -> dict[str, tuple[str, ...]]:
        """Each registered runtime's :meth:`RuntimeProvider.configuration_warnings`, started or not.

        A provider whose method raises is skipped (its runtime reports its own
        failure when it starts).
        """
        warnings: dict[str, tuple[str, ...]] = {}
        for runtime_id, runtime in self._runtimes.items():
            provider = runtime.state.provider
            if provider is None:
                continue
            try:
                lines = tuple(provider.configuration_warnings())
            except Exception:
                log.warning("runtime %r: configuration_warnings failed", runtime_id, exc_info=True)
                continue
            if lines:
                warnings[runtime_id] = lines
        return warnings

    def provider(self, runtime_id: str) -> RuntimeProvider:
        """The running provider of ``runtime_id`` (for direct library use and tests)."""
        return self._usable(runtime_id)[1]

    def built_provider(self, runtime_id: str) -> RuntimeProvider | None:
        """The provider of ``runtime_id`` as built, whatever its state (``None``: it could not be built).

        For tools that work beside a server rather than in it (``runtime-registry
        backup`` reads where a provider keeps its store, without starting it).
        """
        return self._lookup(runtime_id).state.provider

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        """Start every provider. One that fails or hangs is ``unavailable``; the rest serve."""
        for runtime in self._runtimes.values():
            state = runtime.state
            if not isinstance(state, _Created):
                continue
            try:
                async with asyncio.timeout(self.call_timeout):
                    await state.provider.start()
            except TimeoutError:
                self._fail(runtime, "the runtime did not start in time")
            except Exception:
                self._fail(runtime, "the runtime failed to start")
            else:
                runtime.state = _Running(state.provider)

    async def close(self) -> None:
        """Close every started provider, each bounded by the call timeout; never raises."""
        for runtime in self._runtimes.values():
            state = runtime.state
            if isinstance(state, (_Created, _Running)):
                runtime.state = _Closed(state.provider)
            if not isinstance(state, _Running):
                continue
            try:
                async with asyncio.timeout(self.call_timeout):
                    await state.provider.close()
            except Exception:
                log.exception("runtime %r failed to close cleanly", runtime.runtime_id)

    async def __aenter__(self) -> RuntimeRegistry:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    def _fail(self, runtime: _Runtime, reason: str) -> None:
        log.exception("runtime %r (kind %r): %s", runtime.runtime_id, runtime.kind, reason)
        runtime.state = _Failed(reason, getattr(runtime.state, "provider", None))

    # -- runtimes --------------------------------------------------------------

    async def describe_runtime(self, runtime_id: str) -> RuntimeSummary:
        """The summary of one runtime: status, capabilities, limits, kind, plugin."""
        return await self._summarize(self._lookup(runtime_id))

    async def list_runtimes(self) -> RuntimeList:
        """Summaries of every runtime, in registration order."""
        summaries = await asyncio.gather(*(self._summarize(r) for r in self._runtimes.values()))
        return RuntimeList(items=tuple(summaries))

    async def _summarize(self, runtime: _Runtime) -> RuntimeSummary:
        diagnostics: tuple[Diagnostic, ...] = ()
        current = runtime.state
        if isinstance(current, _Running):
            try:
                state = await self._guarded(runtime, "describe", current.provider.describe)
                _expect(state, RuntimeState, runtime, "describe")
                if not isinstance(state.status, RuntimeStatus) or not _are_diagnostics(state.diagnostics):
                    raise _malformed(runtime, "describe")
                status, diagnostics = state.status, state.diagnostics
            except RegistryError as exc:
                status = RuntimeStatus.UNAVAILABLE
                diagnostics = (Diagnostic.error(exc.code, "the runtime did not describe itself"),)
        elif isinstance(current, _Failed):
            status = RuntimeStatus.UNAVAILABLE
            diagnostics = (Diagnostic.error("runtime_failed", current.reason or "unavailable"),)
        elif isinstance(current, _Closed):
            status = RuntimeStatus.STOPPED
        else:
            status = RuntimeStatus.UNAVAILABLE
            diagnostics = (Diagnostic.info("runtime_not_started", "the runtime has not been started"),)
        provider = current.provider
        limits = provider.limits if provider is not None else RuntimeProvider.limits
        return RuntimeSummary(
            runtime_id=runtime.runtime_id,
            display_name=runtime.display_name,
            kind=runtime.kind,
            plugin=runtime.plugin,
            status=status,
            capabilities=runtime.capabilities,
            limits=limits,
            diagnostics=diagnostics,
        )

    async def list_profiles(self, runtime_id: str) -> ProfileList:
        """The profiles a client may name at create in one runtime (``UnsupportedOperation`` where the kind has none)."""
        runtime, provider = self._usable(runtime_id)
        profiles = await self._guarded(runtime, "list_profiles", provider.list_profiles)
        _expect(profiles, ProfileList, runtime, "list_profiles")
        if not isinstance(profiles.items, tuple) or not all(type(p) is ProfileInfo for p in profiles.items):
            raise _malformed(runtime, "list_profiles")
        return profiles

    # -- worker operations -----------------------------------------------------

    async def list_workers(
        self,
        runtime_id: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        worker_filter: WorkerFilter | None = None,
    ) -> WorkerPage:
        """A page of one runtime's workers after the opaque ``cursor``, only those ``worker_filter`` matches.

        A kind that overrides ``filter_workers`` filters itself; for any other
        the registry filters what ``list_workers`` returns, in at most
        :data:`HOST_FILTER_CALLS` calls per page (a page cut short carries its
        cursor). Either way the cursor is the runtime's own, valid under any
        filter (decision 0200).

        :raises InvalidCursor: the runtime did not issue ``cursor``.
        """
        runtime, provider = self._usable(runtime_id)
        limit = _page_limit(limit, provider.limits.worker_page_max)
        if not worker_filter:
            return await self._worker_page(runtime, provider.list_workers, limit=limit, cursor=cursor)
        if filters_natively(type(provider)):
            page = await self._worker_page(
                runtime, functools.partial(provider.filter_workers, worker_filter), limit=limit, cursor=cursor
            )
            if not all(map(worker_filter.matches, page.items)):
                raise _malformed(runtime, "filter_workers")
            return page
        return await self._host_filtered(runtime, provider, worker_filter, limit=limit, cursor=cursor)

    async def _worker_page(
        self, runtime: _Runtime, call: Callable[..., Coroutine[Any, Any, WorkerPage]], *, limit: int, cursor: str | None
    ) -> WorkerPage:
        try:
            page = await self._guarded(runtime, "list_workers", call, limit=limit, cursor=cursor)
        except InvalidCursor:
            raise
        except InvalidRequest as exc:
            raise _deprecated_cursor_error(exc, runtime) from None
        _expect_page(page, WorkerPage, _page_items(page, "items"), runtime, "list_workers")
        return page

    async def _host_filtered(
        self,
        runtime: _Runtime,
        provider: RuntimeProvider,
        worker_filter: WorkerFilter,
        *,
        limit: int,
        cursor: str | None,
    ) -> WorkerPage:
        """Filter a kind's plain pages (a kind written before 0.4 never sees a filter).

        Each call asks for no more workers than the page still has room for:
        the kind's cursors name page ends only, so a page that held more
        matches than room could not be resumed in its middle.
        """
        items: list[Worker] = []
        diagnostics: dict[Diagnostic, None] = {}
        for _ in range(HOST_FILTER_CALLS):
            page = await self._worker_page(runtime, provider.list_workers, limit=limit - len(items), cursor=cursor)
            items.extend(filter(worker_filter.matches, page.items))
            diagnostics.update(dict.fromkeys(page.diagnostics))
            cursor = page.next_cursor
            if cursor is None or len(items) >= limit:
                break
        return WorkerPage(runtime.runtime_id, tuple(items), cursor, tuple(diagnostics))

    async def get_worker(self, runtime_id: str, worker_id: str) -> Worker:
        """One worker of one runtime."""
        runtime, provider, worker_id = self._usable_worker(runtime_id, worker_id)
        worker = await self._guarded(runtime, "get_worker", provider.get_worker, worker_id, worker_id=worker_id)
        return _expect_worker(worker, runtime, "get_worker")

    async def create_worker(self, runtime_id: str, request: CreateWorkerRequest) -> Worker:
        """Create a worker in one runtime."""
        runtime, provider = self._usable(runtime_id)
        worker = await self._guarded(runtime, "create_worker", provider.create_worker, request)
        return _expect_worker(worker, runtime, "create_worker")

    async def send_input(self, runtime_id: str, worker_id: str, request: InputRequest) -> InputAccepted:
        """Send input to a worker; ``request.if_busy`` says what happens if it is in a turn.

        A policy the runtime's ``capabilities.busy_policies`` does not list is
        ``InvalidRequest`` naming ``if_busy``, before the provider is called:
        a kind that claims no policies never sees one (decision 0190).
        """
        runtime, provider, worker_id = self._usable_worker(runtime_id, worker_id)
        # ``_value_``: the member's value as stored; ``.value`` is a property of two Python calls (decision 0263).
        policy = request.if_busy._value_
        if policy != "reject":
            supported = runtime.capabilities.busy_policies
            if policy not in supported:
                raise InvalidRequest(
                    f"runtime {runtime_id!r} does not support if_busy {policy!r} (it supports: {', '.join(supported)})",
                    details=({"path": "if_busy", "message": f"{policy!r} is not one of {', '.join(supported)}"},),
                    runtime_id=runtime_id,
                    worker_id=worker_id,
                )
        accepted = await self._guarded(
            runtime, "send_input", provider.send_input, worker_id, request, worker_id=worker_id
        )
        return _expect(accepted, InputAccepted, runtime, "send_input")

    async def cancel_worker(self, runtime_id: str, worker_id: str, queued: str = "drop") -> WorkerActionResult:
        """Cancel a worker's in-flight turn, if any, and drop the inputs queued behind it (``queued="keep"``: keep them).

        ``keep`` reaches only a provider that claims ``enqueue`` (the others hold no queue, so
        ``keep`` and ``drop`` are the same there, and a kind written before 0.4 is called as before).
        """
        runtime, provider, worker_id = self._usable_worker(runtime_id, worker_id)
        if queued == "keep" and "enqueue" in runtime.capabilities.busy_policies:
            result = await self._guarded(
                runtime, "cancel_worker", provider.cancel_worker_keeping_queue, worker_id, worker_id=worker_id
            )
            return _expect(result, WorkerActionResult, runtime, "cancel_worker")
        result = await self._guarded(runtime, "cancel_worker", provider.cancel_worker, worker_id, worker_id=worker_id)
        return _expect(result, WorkerActionResult, runtime, "cancel_worker")

    async def stop_worker(self, runtime_id: str, worker_id: str) -> WorkerActionResult:
        """Stop a worker for good (idempotent)."""
        runtime, provider, worker_id = self._usable_worker(runtime_id, worker_id)
        result = await self._guarded(runtime, "stop_worker", provider.stop_worker, worker_id, worker_id=worker_id)
        return _expect(result, WorkerActionResult, runtime, "stop_worker")

    async def delete_worker(self, runtime_id: str, worker_id: str) -> WorkerActionResult:
        """Remove a worker for good; afterwards it is ``UnknownWorker`` (so is a second delete)."""
        runtime, provider, worker_id = self._usable_worker(runtime_id, worker_id)
        result = await self._guarded(runtime, "delete_worker", provider.delete_worker, worker_id, worker_id=worker_id)
        return _expect(result, WorkerActionResult, runtime, "delete_worker")

    async def read_transcript(
        self, runtime_id: str, worker_id: str, *, start: int = 1, limit: int | None = None
    ) -> TranscriptPage:
        """A bounded transcript page from ``start`` (1-based)."""
        runtime, provider, worker_id = self._usable_worker(runtime_id, worker_id)
        if isinstance(start, bool) or not isinstance(start, int) or start < 1:
            raise InvalidRequest(
                "start must be an integer of at least 1", details=({"path": "start", "message": "must be at least 1"},)
            )
        limit = _page_limit(limit, provider.limits.transcript_page_max)
        page = await self._guarded(
            runtime,
            "read_transcript",
            provider.read_transcript,
            worker_id,
            start=start,
            limit=limit,
            worker_id=worker_id,
        )
        _expect_page(page, TranscriptPage, (), runtime, "read_transcript")
        if page.worker_id != worker_id:
            raise _malformed(runtime, "read_transcript")
        return page

    async def read_events(
        self, runtime_id: str, *, cursor: int | None = None, limit: int | None = None, worker_id: str | None = None
    ) -> EventPage:
        """Events after ``cursor`` (all of the runtime's, or one worker's)."""
        if worker_id is None:
            runtime, provider = self._usable(runtime_id)
        else:
            runtime, provider, worker_id = self._usable_worker(runtime_id, worker_id)
        return await self._read_events(runtime, provider, cursor=cursor, limit=limit, worker_id=worker_id)

    async def open_event_stream(self, runtime_id: str, *, cursor: int | None = None) -> EventStreamStart:
        """The start of a live stream: the first page after ``cursor`` and the page size for the rest.

        :raises UnsupportedOperation: the runtime cannot stream (it does not wait for events).
        :raises CursorExpired: ``cursor`` is no longer retained.
        """
        runtime, provider = self._usable(runtime_id)
        if not runtime.capabilities.stream_events:
            raise UnsupportedOperation(
                f"runtime kind {runtime.kind!r} does not support stream_events", runtime_id=runtime.runtime_id
            )
        first = await self._read_events(runtime, provider, cursor=cursor, limit=None, worker_id=None)
        return EventStreamStart(first, provider.limits.event_page_max)

    async def _read_events(
        self,
        runtime: _Runtime,
        provider: RuntimeProvider,
        *,
        cursor: int | None,
        limit: int | None,
        worker_id: str | None,
    ) -> EventPage:
        if cursor is not None and (isinstance(cursor, bool) or not isinstance(cursor, int) or cursor < 0):
            raise InvalidRequest(
                "cursor must be a non-negative integer",
                details=({"path": "cursor", "message": "must be a non-negative integer"},),
            )
        limit = _page_limit(limit, provider.limits.event_page_max)
        # ``worker_id=`` is _guarded's own argument (it locates errors), so the
        # provider's worker filter is bound here: otherwise it would never arrive.
        read_events = functools.partial(provider.read_events, worker_id=worker_id)
        page = await self._guarded(runtime, "read_events", read_events, cursor=cursor, limit=limit, worker_id=worker_id)
        _expect_page(page, EventPage, (), runtime, "read_events")
        return page

    async def wait_for_events(self, runtime_id: str, *, cursor: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for an event after ``cursor``; the live stream's primitive.

        Not bounded by the call timeout (waiting is the point), but by ``timeout``.
        """
        runtime, provider = self._usable(runtime_id)
        if not runtime.capabilities.stream_events:
            _refuse_narrowed(runtime, provider, "stream_events")
        try:
            async with asyncio.timeout(timeout + self.call_timeout):
                return bool(await provider.wait_for_events(cursor=cursor, timeout=timeout))
        except RegistryError as exc:
            raise exc.locate(runtime.runtime_id) from None
        except TimeoutError:
            raise RuntimeTimeout("the runtime did not answer in time", runtime_id=runtime.runtime_id) from None
        except Exception:
            log.exception("runtime %r raised in wait_for_events", runtime.runtime_id)
            raise RuntimeUnavailable("the runtime failed", runtime_id=runtime.runtime_id) from None

    def open_live_events(self, runtime_id: str) -> LiveSubscription | None:
        """The runtime's live-only events for one stream, or ``None`` (it has none, or failed to subscribe).

        A provider that raises here is logged and treated as having no live
        events: the stream of stored events goes on without them.
        """
        runtime, provider = self._usable(runtime_id)
        try:
            subscription = provider.open_live_events()
        except Exception:
            log.exception("runtime %r raised in open_live_events", runtime.runtime_id)
            return None
        return subscription if isinstance(subscription, LiveSubscription) else None

    # -- the cross-runtime overview ------------------------------------------

    async def list_all_workers(
        self, *, limit: int | None = None, cursor: str | None = None, worker_filter: WorkerFilter | None = None
    ) -> WorkerOverview:
        """Workers of every runtime that lists them, runtime after runtime; only those ``worker_filter`` matches.

        A runtime that fails is a diagnostic, never a failure of the whole list.
        The cursor is opaque: it encodes the runtime and that runtime's cursor.
        """
        limit = _page_limit(limit, OVERVIEW_PAGE_MAX)
        order = list(self._runtimes)
        position, inner = _decode_overview_cursor(cursor, order)
        items: list[Worker] = []
        diagnostics: list[Diagnostic] = []
        next_cursor: str | None = None
        for runtime_id in order[position:]:
            runtime = self._runtimes[runtime_id]
            if not runtime.capabilities.list_workers and not isinstance(runtime.state, _Failed):
                continue
            inner, _added = await self._collect_overview(
                runtime, inner, limit - len(items), items, diagnostics, worker_filter
            )
            if inner is not None:
                next_cursor = _encode_overview_cursor(runtime_id, inner)
                break
        return WorkerOverview(items=tuple(items), next_cursor=next_cursor, diagnostics=tuple(diagnostics))

    async def _collect_overview(
        self,
        runtime: _Runtime,
        cursor: str | None,
        room: int,
        items: list[Worker],
        diagnostics: list[Diagnostic],
        worker_filter: WorkerFilter | None = None,
    ) -> tuple[str | None, int]:
        """Fill ``items`` from one runtime; return its cursor if the page filled up first.

        The first ``cursor`` is the client's (decoded from the overview cursor):
        one the runtime did not issue is the client's ``InvalidCursor``, never a
        diagnostic over a short list. Any other failure is the runtime's.
        """
        added = 0
        clients_cursor = cursor is not None
        while True:
            if room - added <= 0:
                return cursor if cursor is not None else "", added
            try:
                # A runtime that failed to start or to be built is not usable:
                # _usable raises RuntimeUnavailable for it, a diagnostic below.
                page_max = self._usable(runtime.runtime_id)[1].limits.worker_page_max
                asked = min(room - added, page_max)
                page = await self.list_workers(
                    runtime.runtime_id, limit=asked, cursor=cursor, worker_filter=worker_filter
                )
            except InvalidCursor:
                if clients_cursor:
                    raise
                log.error("runtime %r refused a worker-list cursor it issued itself", runtime.runtime_id)
                diagnostics.append(
                    Diagnostic.error(
                        "runtime_unavailable", f"runtime {runtime.runtime_id!r} could not list its workers"
                    )
                )
                return None, added
            except RegistryError as exc:
                diagnostics.append(
                    Diagnostic.error(exc.code, f"runtime {runtime.runtime_id!r} could not list its workers")
                )
                return None, added
            items.extend(page.items)
            added += len(page.items)
            diagnostics.extend(
                Diagnostic(d.code, d.severity, f"runtime {runtime.runtime_id!r}: {d.message}") for d in page.diagnostics
            )
            if page.next_cursor is None:
                return None, added
            cursor, clients_cursor = page.next_cursor, False
            if len(page.items) < asked:
                # A runtime answers a short page with a cursor when one of its
                # own bounds ran out: its per-request work (local-compat
                # skipping many bad entries) or its page bytes (embedded
                # max_page_bytes). Hand the cursor to the client rather than
                # looping here: the overview's work and size per request stay
                # bounded, and nothing is skipped.
                return cursor, added

    # -- plumbing --------------------------------------------------------------

    def _lookup(self, runtime_id: str) -> _Runtime:
        runtime = self._runtimes.get(runtime_id)
        if runtime is None:
            validate_identifier(runtime_id, field="runtime_id")
            raise UnknownRuntime("no such runtime", runtime_id=runtime_id)
        return runtime

    def _usable(self, runtime_id: str) -> tuple[_Runtime, RuntimeProvider]:
        """The runtime and its provider, if it is running; else ``RuntimeUnavailable``."""
        runtime = self._lookup(runtime_id)
        return runtime, _running_provider(runtime)

    def _usable_worker(self, runtime_id: str, worker_id: str) -> tuple[_Runtime, RuntimeProvider, str]:
        # The worker id is checked before the runtime's state, so that a bad id
        # is always a 400 whatever the runtime is doing.
        runtime = self._lookup(runtime_id)
        validate_identifier(worker_id, field="worker_id")
        return runtime, _running_provider(runtime), worker_id

    async def _guarded(
        self,
        runtime: _Runtime,
        operation: str,
        call: Callable[..., Coroutine[Any, Any, T]],
        *args: Any,
        worker_id: str | None = None,
        **kwargs: Any,
    ) -> T:
        if operation in _OPERATIONS and not getattr(runtime.capabilities, operation):
            _refuse_narrowed(runtime, getattr(runtime.state, "provider", None), operation)
        try:
            return await run_bounded(call(*args, **kwargs), self.call_timeout)
        except RegistryError as exc:
            raise exc.locate(runtime.runtime_id, worker_id) from None
        except TimeoutError:
            log.warning("runtime %r: %s did not answer within %ss", runtime.runtime_id, operation, self.call_timeout)
            raise RuntimeTimeout(
                "the runtime did not answer in time", runtime_id=runtime.runtime_id, worker_id=worker_id
            ) from None
        except Exception as exc:
            _log_failure(runtime, operation, exc)
            raise RuntimeUnavailable(
                "the runtime failed to handle the request", runtime_id=runtime.runtime_id, worker_id=worker_id
            ) from None


#: How many distinct failures of one runtime are remembered as logged (bounds the set).
_LOGGED_FAILURES_MAX = 64


def _log_failure(runtime: _Runtime, operation: str, exc: Exception) -> None:
    """Log a provider's unexpected exception: with its traceback the first time, at DEBUG when it repeats."""
    key = (operation, type(exc).__qualname__)
    if key in runtime.logged_failures:
        log.debug("runtime %r raised in %s again", runtime.runtime_id, operation, exc_info=exc)
        return
    if len(runtime.logged_failures) < _LOGGED_FAILURES_MAX:
        runtime.logged_failures.add(key)
    log.error("runtime %r raised in %s", runtime.runtime_id, operation, exc_info=exc)


#: The operations whose capability is checked before the provider is called.
_OPERATIONS = frozenset(OPERATIONS)


def _refuse_narrowed(runtime: _Runtime, provider: RuntimeProvider | None, operation: str) -> None:
    """Raise ``UnsupportedOperation`` if ``operation``'s capability is false because the provider narrowed it.

    A class that does not implement an operation raises this itself (and the
    conformance suite catches one that does not); this is for capabilities a
    provider narrowed at run time (decision 0096), so that a narrowed ``false``
    answers 405 without calling the provider. capabilities_of is cached: the
    class's own capabilities are always the same object.
    """
    if provider is not None and provider.capabilities is not capabilities_of(type(provider)):  # type: ignore[arg-type]
        raise UnsupportedOperation(
            f"runtime kind {runtime.kind!r} does not support {operation}", runtime_id=runtime.runtime_id
        )


def _running_provider(runtime: _Runtime) -> RuntimeProvider:
    state = runtime.state
    if type(state) is not _Running:
        raise RuntimeUnavailable(_UNUSABLE[type(state)], runtime_id=runtime.runtime_id)
    return state.provider


_UNUSABLE: dict[type, str] = {
    _Created: "the runtime has not been started",
    _Failed: "the runtime is unavailable",
    _Closed: "the runtime is stopped",
}


def _page_limit(limit: int | None, maximum: int) -> int:
    if limit is None:
        return min(DEFAULT_PAGE_SIZE, maximum)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidRequest(
            "limit must be a positive integer", details=({"path": "limit", "message": "must be at least 1"},)
        )
    if limit > maximum:
        raise LimitTooLarge(
            f"limit must be at most {maximum}", details=({"path": "limit", "message": f"must be at most {maximum}"},)
        )
    return limit


def _page_items(page: Any, field: str) -> tuple[Any, ...]:
    # A page of the wrong type has no items to check; _expect rejects it next.
    return getattr(page, field, ())


def _malformed(runtime: _Runtime, operation: str) -> RuntimeUnavailable:
    log.error("runtime %r returned malformed data from %s", runtime.runtime_id, operation)
    return RuntimeUnavailable("the runtime returned malformed data", runtime_id=runtime.runtime_id)


def _expect(value: Any, model: type[T], runtime: _Runtime, operation: str) -> T:
    if type(value) is not model:
        raise _malformed(runtime, operation)
    if getattr(value, "runtime_id", runtime.runtime_id) != runtime.runtime_id:
        raise _malformed(runtime, operation)
    return value


def _are_diagnostics(values: Any) -> bool:
    return isinstance(values, tuple) and all(
        type(d) is Diagnostic
        and isinstance(d.severity, Severity)
        and isinstance(d.code, str)
        and isinstance(d.message, str)
        for d in values
    )


def _expect_worker(worker: Any, runtime: _Runtime, operation: str) -> Worker:
    _expect(worker, Worker, runtime, operation)
    if worker.kind != runtime.kind:
        raise _malformed(runtime, operation)
    return cast(Worker, worker)


def _expect_page(page: Any, model: type, items: tuple[Any, ...], runtime: _Runtime, operation: str) -> None:
    _expect(page, model, runtime, operation)
    for item in items:
        _expect_worker(item, runtime, operation)


def _encode_overview_cursor(runtime_id: str, inner: str) -> str:
    raw = json.dumps([runtime_id, inner], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_overview_cursor(cursor: str | None, order: list[str]) -> tuple[int, str | None]:
    if cursor is None:
        return 0, None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        runtime_id, inner = json.loads(raw)
        position = order.index(runtime_id)
        if not isinstance(inner, str):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("cursor is not one this server issued") from None
    return position, inner or None


def _deprecated_cursor_error(error: InvalidRequest, runtime: _Runtime) -> InvalidCursor:
    """A provider's ``InvalidRequest`` from ``list_workers``, as the ``InvalidCursor`` it means.

    ``list_workers`` takes no body and the registry has checked ``limit``, so
    the only request it can find invalid is the cursor. Providers written for
    0.1 raised ``InvalidRequest`` for it; that keeps working, with a
    DeprecationWarning, until 1.0 (docs/decisions/0074, 0161).
    """
    warnings.warn(
        f"runtime kind {runtime.kind!r}: raise registry_core.InvalidCursor, not InvalidRequest, for a list cursor "
        "the runtime did not issue; InvalidRequest from list_workers stops meaning that in 1.0",
        DeprecationWarning,
        stacklevel=2,
    )
    return InvalidCursor(error.message, runtime_id=error.runtime_id, worker_id=error.worker_id, details=error.details)
