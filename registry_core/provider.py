"""The interface every runtime kind implements: :class:`RuntimeProvider`.

A provider is one running runtime (one ``runtime_id``). Subclass it and
override the operations your kind supports; the ones you leave alone raise
:class:`~registry_core.errors.UnsupportedOperation`, and the runtime's
capabilities are derived from which operations you overrode — so a capability
can never say ``true`` for an operation that answers "unsupported".

A kind that learns only at run time what it can do (a proxy of another
server) may *narrow* those capabilities with :meth:`RuntimeProvider.offer_capabilities`,
never widen them; the registry answers ``UnsupportedOperation`` for a narrowed
operation without calling the provider (decision 0096).

The registry calls a provider only with ids that passed
:func:`~registry_core.identifiers.validate_identifier` and page limits within
``limits``; it guards every call with a timeout and turns unexpected exceptions
into :class:`~registry_core.errors.RuntimeUnavailable`. Raise the typed errors
of :mod:`registry_core.errors` for everything a client can cause.
"""

from __future__ import annotations

import functools
from typing import ClassVar

import attrs

from registry_core.errors import UnsupportedOperation
from registry_core.live import LiveSubscription
from registry_core.models import (
    Capabilities,
    CreateWorkerRequest,
    EventPage,
    InputAccepted,
    InputRequest,
    ProfileList,
    RuntimeLimits,
    RuntimeState,
    TranscriptPage,
    Worker,
    WorkerActionResult,
    WorkerFilter,
    WorkerPage,
)

__all__ = ["OPERATIONS", "RuntimeProvider", "capabilities_of", "filters_natively", "narrowed"]

#: The optional operations, by capability name: every capability of
#: :class:`~registry_core.models.Capabilities` but ``stream_events``, which
#: needs both ``read_events`` and ``wait_for_events``. (The capability list is
#: stated once, as that model's fields.)
OPERATIONS: tuple[str, ...] = tuple(
    field.name for field in attrs.fields(Capabilities) if field.name not in ("stream_events", "busy_policies")
)


class RuntimeProvider:
    """Base class of a runtime kind's provider.

    :param runtime_id: the id the operator gave this runtime in config. Put it
        in every model you return (``Worker.runtime_id``, page ``runtime_id``):
        the registry checks it.

    Class attributes to set in a subclass:

    ``kind``
        the runtime kind name, as registered (e.g. ``"embedded"``); put it in
        every :class:`~registry_core.models.Worker` you return.
    ``limits``
        a :class:`~registry_core.models.RuntimeLimits`; the registry rejects
        page limits above its maxima with ``LimitTooLarge`` before calling you.
        Set it per instance if it depends on settings.
    ``busy_policies``
        the ``if_busy`` values :meth:`send_input` takes (added in 0.4,
        decision 0190): ``("reject",)`` unless you claim more. The registry
        refuses a policy you do not claim (``422``) before calling you, so a
        kind written before 0.4 never sees one. Narrow it per instance with
        :meth:`offer_capabilities`.
    """

    kind: ClassVar[str] = ""
    limits: RuntimeLimits = RuntimeLimits()
    busy_policies: ClassVar[tuple[str, ...]] = ("reject",)
    # What offer_capabilities narrowed the class's capabilities to (None: not narrowed).
    # A class attribute, so a subclass that skips super().__init__ still works.
    _offered: Capabilities | None = None

    def __init__(self, runtime_id: str) -> None:
        self.runtime_id = runtime_id

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        """Prepare the runtime; called once, inside the server's event loop, before any operation.

        Raising here makes the runtime ``unavailable``; the others still serve.
        """

    async def close(self) -> None:
        """Release everything: cancel in-flight work, wake stream waiters. Called once at shutdown."""

    async def describe(self) -> RuntimeState:
        """Report health: ``running``, ``degraded`` (with diagnostics), ``unavailable`` or ``stopped``."""
        return RuntimeState()

    def configuration_warnings(self) -> tuple[str, ...]:
        """Problems of this runtime's configuration that do not stop it from starting, one line each.

        ``runtime-registry check-config`` prints them as warnings without
        starting the runtime (so this must not open files or connect to
        anything). Each line is for the operator, not for clients: it may
        name a setting's path (relative to the runtime's ``settings``) and an
        environment variable, never a secret's value. None by default.
        """
        return ()

    # -- workers -------------------------------------------------------------

    async def list_workers(self, *, limit: int, cursor: str | None) -> WorkerPage:
        """A page of at most ``limit`` workers after the opaque ``cursor`` (``None``: from the start).

        Raise ``InvalidRequest`` for a cursor you did not issue.
        """
        raise self._unsupported("list_workers")

    async def filter_workers(self, worker_filter: WorkerFilter, *, limit: int, cursor: str | None) -> WorkerPage:
        """Like :meth:`list_workers`, but only the workers ``worker_filter`` matches. Optional.

        Override it when your kind can find matching workers without reading
        the others (an index, a query): the registry calls it for every
        filtered list (``?status=``, ``?profile=``, ``?label=``) and calls
        :meth:`list_workers` for unfiltered ones. Without it the registry
        filters what :meth:`list_workers` returns, page after page, which is
        correct but reads every worker it skips (decision 0200).

        The cursor is the same kind of cursor as :meth:`list_workers`': a
        position in your list, not tied to a filter, so a cursor issued under
        one filter continues after the same worker under another. A page may
        hold fewer than ``limit`` workers (even none) as long as it carries a
        ``next_cursor``; the registry checks that every worker returned
        matches. Not a capability: every runtime that lists workers filters.

        .. versionadded:: 0.4
        """
        raise self._unsupported("list_workers")

    async def get_worker(self, worker_id: str) -> Worker:
        """One worker. Raise ``UnknownWorker`` if this runtime has no such worker."""
        raise self._unsupported("get_worker")

    async def create_worker(self, request: CreateWorkerRequest) -> Worker:
        """Create a worker and return it (with a ``profile_fallback`` diagnostic if you fell back).

        Raise ``CapacityExceeded`` at the worker limit and ``InvalidRequest`` for
        a capability you cannot grant.
        """
        raise self._unsupported("create_worker")

    async def send_input(self, worker_id: str, request: InputRequest) -> InputAccepted:
        """Accept input and start a turn. Raise ``WorkerBusy`` while a turn runs
        (never queue), ``WorkerStopped`` after stop, ``CapacityExceeded`` when the
        transcript is full.

        ``request.if_busy`` is always one of :attr:`busy_policies`: ``reject``
        unless the kind claims more (``enqueue``: answer ``status="queued"``
        with its ``queue_position``, or ``QueueFull``; ``interrupt``: end the
        running turn with ``worker.turn_cancelled``, ``reason: "interrupt"``).
        """
        raise self._unsupported("send_input")

    async def cancel_worker(self, worker_id: str) -> WorkerActionResult:
        """Cancel the in-flight turn, if any; the worker stays usable. Idempotent when idle.

        Raise ``WorkerStopped`` for a stopped worker. A kind that claims the
        ``enqueue`` busy policy also drops the inputs queued behind the turn
        (one ``worker.input_dropped`` each).
        """
        raise self._unsupported("cancel_worker")

    async def cancel_worker_keeping_queue(self, worker_id: str) -> WorkerActionResult:
        """:meth:`cancel_worker`, keeping the inputs queued behind the turn: the next one's turn starts.

        Only for a kind that claims the ``enqueue`` busy policy: the registry
        calls it for ``cancel ?queued=keep`` on such a kind, and
        :meth:`cancel_worker` on any other (which holds no queue).

        .. versionadded:: 0.4
        """
        raise self._unsupported("cancel_worker_keeping_queue")

    async def stop_worker(self, worker_id: str) -> WorkerActionResult:
        """Stop the worker for good, cancelling any turn first. Idempotent."""
        raise self._unsupported("stop_worker")

    async def delete_worker(self, worker_id: str) -> WorkerActionResult:
        """Remove the worker for good: cancel any turn, stop it, forget its record and transcript.

        Answer ``action="delete"``, ``changed=True`` and the status the worker
        had at the end (``"stopped"``). Afterwards every operation on the worker
        raises ``UnknownWorker``, it is not listed, it no longer counts against
        ``max_workers``, and its id is never issued again. Raise ``UnknownWorker``
        for a worker that does not exist or was already deleted (not idempotent).
        """
        raise self._unsupported("delete_worker")

    async def read_transcript(self, worker_id: str, *, start: int, limit: int) -> TranscriptPage:
        """Entries with ``sequence >= start`` (1-based), at most ``limit`` of them."""
        raise self._unsupported("read_transcript")

    async def list_profiles(self) -> ProfileList:
        """The profiles a client may name at create, each marked whether it is the default.

        Say what each is (name, engine, description, tool names), never how it
        is configured: no endpoint, key variable or option value (decision 0141).

        .. versionadded:: 0.4
        """
        raise self._unsupported("list_profiles")

    # -- events --------------------------------------------------------------

    async def read_events(self, *, cursor: int | None, limit: int, worker_id: str | None = None) -> EventPage:
        """Events with ids after ``cursor`` (``None``: from the oldest retained), oldest first.

        Only ``worker_id``'s events when it is given. Raise ``CursorExpired`` when
        events after ``cursor`` are no longer retained, or ``cursor`` is newer than
        any event this runtime issued: never skip silently.
        """
        raise self._unsupported("read_events")

    async def wait_for_events(self, *, cursor: int, timeout: float) -> bool:
        """Wait until an event with an id after ``cursor`` exists, or ``timeout`` seconds pass.

        Return whether there is one. With ``read_events``, this makes the
        ``stream_events`` capability. Return promptly (``False``) after ``close``.
        """
        raise self._unsupported("stream_events")

    def open_live_events(self) -> LiveSubscription | None:
        """Subscribe one stream to live-only events (``worker.output_delta``), or ``None`` for none.

        Live events are not stored: they are never in ``read_events`` and
        only subscribers connected when they happen see them. The stream
        closes the subscription when it ends. Optional, and not a
        capability: a runtime without live events streams its stored events
        only. Must not suspend (it is a plain method).

        .. versionadded:: 0.3
        """
        return None

    # -- helpers ---------------------------------------------------------------

    @property
    def capabilities(self) -> Capabilities:
        """What this provider does: the operations its class implements, narrowed by
        :meth:`offer_capabilities` if it was called."""
        if self._offered is not None:
            return self._offered
        # A class is hashable; mypy reads the instance __hash__ signature here.
        return capabilities_of(type(self))  # type: ignore[arg-type]

    def offer_capabilities(self, offered: Capabilities | None) -> None:
        """Narrow this provider's capabilities to ``offered`` (``None``: back to what the class implements).

        For kinds that know only at run time what they can do — a ``remote``
        runtime does what the runtime it fronts does. A capability is ``true``
        only if the class implements the operation *and* ``offered`` says so:
        an offer can take capabilities away, never add one the class lacks.
        The registry answers ``UnsupportedOperation`` for a narrowed operation
        without calling the provider, so a capability still never lies. Call it
        whenever you learn more (at start, on a refresh); it takes effect at once.
        """
        implemented = capabilities_of(type(self))  # type: ignore[arg-type]
        self._offered = None if offered is None else narrowed(implemented, offered)

    def _unsupported(self, operation: str) -> UnsupportedOperation:
        return UnsupportedOperation(
            f"runtime kind {self.kind or type(self).__name__!r} does not support {operation}",
            runtime_id=self.runtime_id,
        )


def narrowed(implemented: Capabilities, offered: Capabilities) -> Capabilities:
    """The capabilities true in both ``implemented`` and ``offered``."""
    flags = {
        field.name: getattr(implemented, field.name) and getattr(offered, field.name)
        for field in attrs.fields(Capabilities)
        if field.name != "busy_policies"
    }
    # A policy list narrows to the policies in both, in the implemented order
    # (``reject`` is every kind's, so it stays).
    policies = tuple(policy for policy in implemented.busy_policies if policy in offered.busy_policies)
    return Capabilities(**flags, busy_policies=policies or ("reject",))


def filters_natively(provider_type: type[RuntimeProvider]) -> bool:
    """Whether ``provider_type`` filters worker lists itself (overrides :meth:`RuntimeProvider.filter_workers`).

    .. versionadded:: 0.4
    """
    return provider_type.filter_workers is not RuntimeProvider.filter_workers


@functools.cache
def capabilities_of(provider_type: type[RuntimeProvider]) -> Capabilities:
    """Derive capabilities from which operations ``provider_type`` overrides."""
    implemented = {name: getattr(provider_type, name) is not getattr(RuntimeProvider, name) for name in OPERATIONS}
    streams = implemented["read_events"] and provider_type.wait_for_events is not RuntimeProvider.wait_for_events
    policies = tuple(dict.fromkeys(("reject", *provider_type.busy_policies)))
    return Capabilities(**implemented, stream_events=streams, busy_policies=policies)
