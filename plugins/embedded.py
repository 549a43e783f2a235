"""The ``embedded`` runtime kind: the pluggy plugin and the provider that adapts the runtime.

Discovered through the ``runtime_registry`` entry point ``embedded =
"runtime_registry.plugins.embedded"`` like any third-party kind. The provider is a thin
adapter: it adds the runtime's identity (``runtime_id``, ``kind``) to what
:class:`~runtime_registry.runtimes.embedded.EmbeddedRuntime` returns and builds the
``registry_core`` page models. The runtime raises ``registry_core``'s typed
errors itself (decision 0004), so there is no error mapping here.

No method of the provider suspends except ``wait_for_events`` and ``close``:
the registry's eager call guard then costs nothing (decision 0001).
"""

from __future__ import annotations

from collections.abc import Callable

from registry_core import (
    CreateWorkerRequest,
    Diagnostic,
    EventPage,
    InputAccepted,
    InputRequest,
    RuntimeKind,
    RuntimeLimits,
    RuntimeProvider,
    RuntimeState,
    RuntimeStatus,
    TranscriptPage,
    Worker,
    WorkerActionResult,
    WorkerPage,
    hookimpl,
)
from runtime_registry.runtimes.embedded import EmbeddedRuntime, EmbeddedSettings, WorkerRecord

__all__ = ["EmbeddedProvider", "KIND", "register_runtime_kinds"]

#: The kind name, as registered and as put in every worker.
KIND = "embedded"


class EmbeddedProvider(RuntimeProvider):
    """One embedded runtime, registered under ``runtime_id``.

    :param settings: the runtime's settings (``EmbeddedSettings()`` if omitted).
    """

    kind = KIND

    def __init__(self, runtime_id: str, settings: EmbeddedSettings | None = None) -> None:
        super().__init__(runtime_id)
        settings = settings or EmbeddedSettings()
        self.runtime = EmbeddedRuntime(settings)
        self.limits = RuntimeLimits(
            worker_page_max=settings.worker_page_max,
            transcript_page_max=settings.transcript_page_max,
            event_page_max=settings.event_page_max,
            max_workers=settings.max_workers,
            max_transcript_entries=settings.max_transcript_entries,
            max_input_chars=settings.max_input_chars,
            event_retention=settings.event_retention,
        )

    # -- lifecycle -----------------------------------------------------------

    async def close(self) -> None:
        """Cancel in-flight turns and wake every event waiter."""
        await self.runtime.close()

    async def describe(self) -> RuntimeState:
        """``running``; ``degraded`` (with a warning) while at ``max_workers``; ``stopped`` after close."""
        if self.runtime.closed:
            return RuntimeState(RuntimeStatus.STOPPED)
        held, most = len(self.runtime), self.runtime.settings.max_workers
        if held >= most:
            return RuntimeState(
                RuntimeStatus.DEGRADED,
                (Diagnostic.warning("worker_capacity_reached", f"the runtime holds {held} of {most} workers; creating more is refused"),),
            )
        return RuntimeState(RuntimeStatus.RUNNING)

    # -- workers -------------------------------------------------------------

    def _model(self, worker: WorkerRecord, diagnostics: tuple[Diagnostic, ...] = ()) -> Worker:
        return Worker(
            self.runtime_id,
            worker.worker_id,
            KIND,
            worker.label,
            worker.status,
            worker.profile.name,
            worker.intent,
            worker.created_at,
            len(worker.transcript),
            diagnostics,
        )

    async def list_workers(self, *, limit: int, cursor: str | None) -> WorkerPage:
        """Workers in creation order; the opaque cursor names the last worker of the previous page."""
        workers, next_cursor = self.runtime.list_workers(limit=limit, cursor=cursor)
        return WorkerPage(self.runtime_id, tuple(map(self._model, workers)), next_cursor)

    async def get_worker(self, worker_id: str) -> Worker:
        """One worker."""
        return self._model(self.runtime.get_worker(worker_id))

    async def create_worker(self, request: CreateWorkerRequest) -> Worker:
        """A new idle worker, with a ``profile_fallback`` diagnostic if the profile was unknown."""
        created = self.runtime.create_worker(
            intent=request.intent, profile=request.profile, label=request.label, capabilities=request.capabilities
        )
        return self._model(created.worker, created.diagnostics)

    async def send_input(self, worker_id: str, request: InputRequest) -> InputAccepted:
        """Accept input and start a turn; ``WorkerBusy`` while one runs."""
        sequence, event_id = self.runtime.send_input(worker_id, request.content, role=request.kind.value)
        return InputAccepted(self.runtime_id, worker_id, sequence, event_id, self.runtime.get_worker(worker_id).status)

    async def cancel_worker(self, worker_id: str) -> WorkerActionResult:
        """Cancel the in-flight turn; ``changed`` is ``False`` when there was none."""
        changed = self.runtime.cancel(worker_id)
        return WorkerActionResult(self.runtime_id, worker_id, "cancel", changed, self.runtime.get_worker(worker_id).status)

    async def stop_worker(self, worker_id: str) -> WorkerActionResult:
        """Stop the worker for good; ``changed`` is ``False`` when it already was."""
        changed = self.runtime.stop(worker_id)
        return WorkerActionResult(self.runtime_id, worker_id, "stop", changed, self.runtime.get_worker(worker_id).status)

    async def delete_worker(self, worker_id: str) -> WorkerActionResult:
        """Remove the worker for good, freeing its capacity slot; ``UnknownWorker`` afterwards."""
        self.runtime.delete(worker_id)
        return WorkerActionResult(self.runtime_id, worker_id, "delete", True, "stopped")

    async def read_transcript(self, worker_id: str, *, start: int, limit: int) -> TranscriptPage:
        """A bounded transcript page."""
        page = self.runtime.read_transcript(worker_id, start=start, limit=limit)
        return TranscriptPage(self.runtime_id, worker_id, page.items, start, limit, page.total, page.next_start)

    # -- events --------------------------------------------------------------

    async def read_events(self, *, cursor: int | None, limit: int, worker_id: str | None = None) -> EventPage:
        """Events after ``cursor``; ``CursorExpired`` outside the retained range."""
        found = self.runtime.read_events(cursor=cursor, limit=limit, worker_id=worker_id)
        return EventPage(self.runtime_id, tuple(found.events), found.next_cursor, found.has_more)

    async def wait_for_events(self, *, cursor: int, timeout: float) -> bool:
        """Wait for an event after ``cursor``; ``False`` at once after close."""
        return await self.runtime.wait_for_events(cursor=cursor, timeout=timeout)


@hookimpl
def register_runtime_kinds(register: Callable[[RuntimeKind], None]) -> None:
    """Register the ``embedded`` runtime kind."""
    register(
        RuntimeKind(
            name=KIND,
            description="In-process workers with a memory store (no tools; builtin default and echo profiles)",
            factory=EmbeddedProvider,
            settings_type=EmbeddedSettings,
        )
    )
