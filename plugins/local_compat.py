"""The ``local-compat`` runtime kind: the local compatibility source as a registry provider.

Discovered through the ``local-compat`` entry point like any third-party
plugin. The runtime it adapts (:mod:`runtime_registry.runtimes.local_compat`) does blocking,
bounded file-system work; this adapter runs that work on one dedicated thread
per runtime, so a slow or hung disk never blocks the event loop or other
runtimes — the registry's call timeout answers ``runtime_timeout`` instead.

Read-only: only ``list_workers`` and ``get_worker`` are implemented, so the
registry derives every other capability as ``false`` and those operations
answer ``unsupported_operation``.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from registry_core import (
    Diagnostic,
    Intent,
    IntentKind,
    RuntimeKind,
    RuntimeLimits,
    RuntimeProvider,
    RuntimeState,
    RuntimeStatus,
    RuntimeUnavailable,
    Worker,
    WorkerFilter,
    WorkerPage,
    hookimpl,
)

# Only the settings type at import: the plugin is imported at every start to
# register the kind, and the reader's modules (docs/performance.md) are needed only
# when a local-compat runtime is configured; its provider imports them.
from runtime_registry.runtimes.local_compat.settings import LocalCompatSettings

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from runtime_registry.runtimes.local_compat.metadata import LocalWorker

__all__ = ["LocalCompatProvider", "KIND", "STUCK_AFTER_SECONDS", "register_runtime_kinds"]

#: The kind name, as registered and as put in every worker row.
KIND = "local-compat"
#: A disk call running longer than this means the disk is stuck: further calls
#: are refused at once (``runtime_unavailable``) instead of queueing behind it.
STUCK_AFTER_SECONDS = 5.0

T = TypeVar("T")


class LocalCompatProvider(RuntimeProvider):
    """One ``local-compat`` runtime: a read-only view of one workspace's local workers."""

    kind = KIND
    #: See :data:`STUCK_AFTER_SECONDS`.
    stuck_after_seconds: float = STUCK_AFTER_SECONDS

    def __init__(self, runtime_id: str, settings: LocalCompatSettings) -> None:
        super().__init__(runtime_id)
        self.settings = settings
        self.limits = RuntimeLimits(worker_page_max=settings.worker_page_max)
        from runtime_registry.runtimes.local_compat.source import LocalCompatSource

        self.source = LocalCompatSource(settings)
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False
        #: When the call now running on the disk thread began (``None``: idle).
        self._busy_since: float | None = None

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        """Start the runtime's disk thread. A missing data directory is not a failure: it is ``degraded``."""
        self._ensure_executor()

    async def close(self) -> None:
        """Drop queued disk calls and let the thread end; never waits for a hung disk."""
        self._closed = True
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def describe(self) -> RuntimeState:
        """``running``, or ``degraded`` with a diagnostic when the data directory cannot be read."""
        try:
            health = await self._on_disk_thread(self.source.health)
        except RuntimeUnavailable as busy:
            return RuntimeState(RuntimeStatus.DEGRADED, (Diagnostic.error("local_store_not_answering", busy.message),))
        status = RuntimeStatus.RUNNING if health.usable else RuntimeStatus.DEGRADED
        return RuntimeState(status, health.diagnostics)

    # -- workers -------------------------------------------------------------------

    async def list_workers(self, *, limit: int, cursor: str | None) -> WorkerPage:
        """A page of local workers in worker-id order; see ``docs/local-compat.md``."""
        page = await self._on_disk_thread(self.source.page, limit=limit, cursor=cursor)
        return WorkerPage(
            runtime_id=self.runtime_id,
            items=tuple(self._worker(item) for item in page.items),
            next_cursor=page.next_cursor,
            diagnostics=page.diagnostics,
        )

    async def filter_workers(self, worker_filter: WorkerFilter, *, limit: int, cursor: str | None) -> WorkerPage:
        """The local workers ``worker_filter`` matches, filtered as they are read (within ``scan_budget``)."""

        def matches(local: LocalWorker) -> bool:
            return worker_filter.matches(self._worker(local))

        page = await self._on_disk_thread(self.source.page, limit=limit, cursor=cursor, where=matches)
        return WorkerPage(
            runtime_id=self.runtime_id,
            items=tuple(self._worker(item) for item in page.items),
            next_cursor=page.next_cursor,
            diagnostics=page.diagnostics,
        )

    async def get_worker(self, worker_id: str) -> Worker:
        """One local worker, read fresh from disk (or the stat-keyed cache)."""
        return self._worker(await self._on_disk_thread(self.source.find, worker_id))

    # -- plumbing --------------------------------------------------------------------

    def _worker(self, local: LocalWorker) -> Worker:
        return Worker(
            runtime_id=self.runtime_id,
            worker_id=local.worker_id,
            kind=KIND,
            label=local.label,
            status=local.status,
            profile=local.profile,
            intent=Intent(IntentKind.ROLE, role=local.role) if local.role else None,
            # The format records no creation time; the file's mtime is the time
            # of the last write, and calling it created_at would be wrong.
            created_at=None,
            transcript_length=0,
            diagnostics=local.diagnostics,
        )

    def _ensure_executor(self) -> ThreadPoolExecutor:
        if self._closed:
            raise RuntimeUnavailable("the runtime is closed", runtime_id=self.runtime_id)
        if self._executor is None:
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-compat")
        return self._executor

    async def _on_disk_thread(self, call: Callable[..., T], *args: object, **kwargs: object) -> T:
        executor = self._ensure_executor()
        since = self._busy_since
        if since is not None and time.monotonic() - since > self.stuck_after_seconds:
            raise RuntimeUnavailable(
                "the local data directory is not answering; try again later", runtime_id=self.runtime_id
            )
        try:
            future = executor.submit(self._timed, functools.partial(call, *args, **kwargs))
        except RuntimeError:  # shut down meanwhile
            raise RuntimeUnavailable("the runtime is closed", runtime_id=self.runtime_id) from None
        # A caller that gives up (the registry's timeout) cancels the future:
        # if it has not started it leaves the queue, so abandoned calls never
        # pile up behind a hung one.
        return await asyncio.wrap_future(future)

    def _timed(self, call: Callable[[], T]) -> T:
        self._busy_since = time.monotonic()
        try:
            return call()
        finally:
            self._busy_since = None


@hookimpl
def register_runtime_kinds(register: Callable[[RuntimeKind], None]) -> None:
    """Register the ``local-compat`` runtime kind."""
    register(
        RuntimeKind(
            name=KIND,
            description="Read-only view of locally run workers of the older system (pod-store metadata)",
            factory=LocalCompatProvider,
            settings_type=LocalCompatSettings,
        )
    )
