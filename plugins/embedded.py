"""The ``embedded`` runtime kind: the pluggy plugin and the provider that adapts the runtime.

Discovered through the ``runtime_registry`` entry point ``embedded =
"runtime_registry.plugins.embedded"`` like any third-party kind. The provider is a thin
adapter: it adds the runtime's identity (``runtime_id``, ``kind``) to what
:class:`~runtime_registry.runtimes.embedded.EmbeddedRuntime` returns and builds the
``registry_core`` page models. The runtime raises ``registry_core``'s typed
errors itself (decision 0004), so there is no error mapping here.

Reads never suspend. Operations that change something suspend only when the
store makes them: a SQLite store in ``acknowledged`` mode waits for the commit
(decision 0085), a store shared by replicas for its database; over a memory
store they finish on their first step, and the registry's eager call guard
costs nothing (decision 0001).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path

import attrs

from registry_core import (
    CreateWorkerRequest,
    Diagnostic,
    EventPage,
    HostExtensions,
    InputAccepted,
    InputRequest,
    LiveSubscription,
    ProfileList,
    RuntimeContext,
    RuntimeKind,
    RuntimeLimits,
    RuntimeProvider,
    RuntimeState,
    RuntimeStatus,
    TranscriptPage,
    TurnEngine,
    UnsupportedOperation,
    Worker,
    WorkerActionResult,
    WorkerFilter,
    WorkerPage,
    WorkerTool,
    hookimpl,
)
from registry_core.store_hooks import StoreStats
from runtime_registry.engines.clock import CLOCK
from runtime_registry.engines.llm_engine import LLM, profile_problem
from runtime_registry.runtimes.embedded import IDLE, STOPPED, EmbeddedRuntime, EmbeddedSettings, WorkerRecord
from runtime_registry.runtimes.embedded.builtin_engines import ECHO, RECORD
from runtime_registry.runtimes.embedded.memory_store import MemoryStore
from runtime_registry.runtimes.embedded.profile_keys import unset_key_diagnostics, unset_key_lines
from runtime_registry.runtimes.embedded.settings import StoreBackend
from runtime_registry.runtimes.embedded.store import WorkerStore
from runtime_registry.runtimes.embedded.totals import NO_TOTALS

__all__ = [
    "KIND",
    "EmbeddedProvider",
    "make_store",
    "register_runtime_kinds",
    "register_turn_engines",
    "register_worker_tools",
]

#: The kind name, as registered and as put in every worker.
KIND = "embedded"


def make_store(runtime_id: str, settings: EmbeddedSettings, data_dir: Path | None) -> WorkerStore:
    """The store ``settings.store`` asks for; a relative path resolves against ``data_dir``.

    Without a ``data_dir`` (a runtime built as a library, with no
    :class:`~registry_core.RuntimeContext`) a SQLite store needs its
    ``store.path``; without one the runtime writes no file and keeps
    everything in memory. ``serve`` and the config file always give a
    ``data_dir``, so their default stays SQLite under it.

    The SQLite and PostgreSQL stores' modules (and their drivers) are imported only when a runtime uses them.
    """
    if settings.store.backend is StoreBackend.POSTGRES:
        # Told where explicitly (the variable), whether or not there is a data_dir.
        from runtime_registry.runtimes.embedded.postgres import PostgresStore

        dsn_env = settings.store.dsn_env or ""
        # The connection string is read here and goes nowhere but the driver.
        return PostgresStore(
            os.environ.get(dsn_env), runtime_id, lease_seconds=settings.store.lease_seconds, dsn_env=dsn_env
        )
    path = settings.store.path
    if settings.store.backend is StoreBackend.MEMORY or (data_dir is None and path is None):
        return MemoryStore()
    from runtime_registry.runtimes.embedded.sqlite_store import SQLiteStore

    file = Path(path) if path is not None else Path("state") / f"{runtime_id}.db"
    if data_dir is not None:
        file = data_dir / file
    return SQLiteStore(file.absolute(), durability=settings.store.durability, retention=settings.event_retention)


class EmbeddedProvider(RuntimeProvider):
    """One embedded runtime, registered under ``runtime_id``.

    :param settings: the runtime's settings (``EmbeddedSettings()`` if omitted).
    :param context: where the host keeps files (``data_dir``): the SQLite
        store's file is ``state/<runtime_id>.db`` under it by default. Without
        one (a library caller) the runtime writes no file unless
        ``settings.store.path`` says where, and keeps everything in memory.
    :param extensions: the engines and tools its profiles may use (the host
        passes what every loaded plugin registered); the builtin ``record``
        and ``echo`` engines and no tools if omitted.
    """

    kind = KIND
    # Every policy the stores decide (memory, SQLite and PostgreSQL: decision 0184); a store that
    # decides fewer narrows them per runtime.
    busy_policies = ("reject", "enqueue", "interrupt")

    def __init__(
        self,
        runtime_id: str,
        settings: EmbeddedSettings | None = None,
        *,
        context: RuntimeContext | None = None,
        extensions: HostExtensions | None = None,
    ) -> None:
        super().__init__(runtime_id)
        settings = settings or EmbeddedSettings()
        data_dir = context.data_dir if context is not None else None
        self.runtime = EmbeddedRuntime(
            settings,
            store=make_store(runtime_id, settings, data_dir),
            engines=extensions.engines if extensions is not None else None,
            tools=extensions.tools if extensions is not None else None,
            name=runtime_id,
        )
        self.limits = RuntimeLimits(
            worker_page_max=settings.worker_page_max,
            transcript_page_max=settings.transcript_page_max,
            event_page_max=settings.event_page_max,
            max_workers=settings.max_workers,
            max_transcript_entries=settings.max_transcript_entries,
            max_input_chars=settings.max_input_chars,
            event_retention=settings.event_retention,
            # A page may be cut short of its count limit by bytes (decision 0080):
            # clients see the bound that did it, and the bounds of its store.
            kind_specific={"max_page_bytes": settings.max_page_bytes, **self.runtime.store.kind_specific_limits()},
        )
        if self.runtime.busy_policies != self.busy_policies:
            # A store that decides fewer policies narrows what this kind offers.
            self.offer_capabilities(attrs.evolve(self.capabilities, busy_policies=self.runtime.busy_policies))

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        """Open the store and take back what it holds (nothing for a memory store).

        A profile whose ``key_env`` variable is not set is logged here (and
        shown by :meth:`describe`) before its first turn fails.
        """
        for line in unset_key_lines(self.runtime.profiles):
            logging.getLogger("runtime_registry.runtimes.embedded").warning("runtime %s: %s", self.runtime_id, line)
        await self.runtime.start()

    def configuration_warnings(self) -> tuple[str, ...]:
        """Each profile whose ``key_env`` variable is not set (``check-config`` prints them)."""
        return unset_key_lines(self.runtime.profiles)

    async def close(self) -> None:
        """Cancel in-flight turns, wake every event waiter, and commit what the store has queued."""
        await self.runtime.close()

    def turn_slots(self) -> tuple[int, int, int, int] | None:
        """``(turns running, max_concurrent_turns, workers waiting for a slot, inputs queued behind turns)``.

        Read by ``/metrics`` when scraped (optional, duck-typed like :meth:`store_stats`); ``None`` for
        a store that keeps no such count. PostgreSQL: the runtime's as a whole, as the replica's cache
        last caught up (decision 0184).
        """
        return self.runtime.turn_slots()

    def store_stats(self) -> StoreStats | None:
        """The store's figures for ``/metrics`` (:class:`registry_core.store_hooks.StoreStatsProvider`).

        SQLite: the writer's commits and queue, the file's bytes against
        ``max_store_bytes``; PostgreSQL: this replica's decision transactions
        and those in flight; memory: the bytes held against ``max_store_bytes``.
        """
        store = self.runtime.store
        commits = store.commit_stats()
        usage = store.byte_usage()
        if commits is None and usage is None:
            return None
        return StoreStats(
            commits=None if commits is None else commits.commits,
            commit_seconds=None if commits is None else commits.commit_seconds,
            queue_depth=None if commits is None else commits.queue_depth,
            bytes_used=None if usage is None else usage[0],
            bytes_limit=None if usage is None else usage[1],
        )

    async def backup_store(self, directory: Path) -> tuple[str, ...]:
        """Copy the store's durable state into ``directory`` while the runtime may be serving in another process.

        The file names written (``<runtime id>.db`` for a SQLite store); none for a
        memory store, which keeps nothing durable. ``runtime-registry backup`` calls
        this (docs/operations.md); it needs no ``start``.

        :raises UnsupportedOperation: a store this command cannot copy (a database
            server's: use its own tools, ``pg_dump`` for PostgreSQL).
        :raises BackupError: the copy failed (one line for the operator).
        """
        store = self.runtime.store
        if isinstance(store, MemoryStore):
            return ()
        from runtime_registry.runtimes.embedded.sqlite_backup import backup_sqlite
        from runtime_registry.runtimes.embedded.sqlite_store import SQLiteStore

        if not isinstance(store, SQLiteStore):
            raise UnsupportedOperation(
                "this store is a database server's: back it up with its own tools (pg_dump for PostgreSQL)"
            )
        name = f"{self.runtime_id}.db"
        await asyncio.to_thread(backup_sqlite, store.path, directory / name)
        return (name,)

    async def describe(self) -> RuntimeState:
        """``running``; ``unavailable`` with ``store_unusable`` when the store cannot be opened;
        ``degraded`` while the store cannot write, an llm profile failed its check
        (``engine_profile_invalid``), at ``max_workers``, or while a profile's
        ``key_env`` variable is not set (``profile_key_unset``); ``stopped`` after close."""
        if self.runtime.closed:
            return RuntimeState(RuntimeStatus.STOPPED)
        keys = unset_key_diagnostics(self.runtime.profiles)
        reason = self.runtime.unavailable_reason
        if reason is not None:
            return RuntimeState(RuntimeStatus.UNAVAILABLE, (Diagnostic.error("store_unusable", reason), *keys))
        problems = self.runtime.store.diagnostics() + self._engine_problems() + keys
        held, most = len(self.runtime), self.runtime.settings.max_workers
        if held >= most:
            problems += (
                Diagnostic.warning(
                    "worker_capacity_reached",
                    f"the runtime holds {held} of {most} workers; creating more is refused",
                ),
            )
        return RuntimeState(RuntimeStatus.DEGRADED if problems else RuntimeStatus.RUNNING, problems)

    def _engine_problems(self) -> tuple[Diagnostic, ...]:
        # serve checks llm profiles once it listens (decision 0172): one that
        # failed is reported here, where an operator looks, for as long as it runs.
        problems = []
        for name in self.runtime.profiles.names():
            profile = self.runtime.profiles.by_name(name)
            problem = profile_problem(profile) if self.runtime.profiles.engine(profile) is LLM else None
            if problem is not None:
                problems.append(Diagnostic.error("engine_profile_invalid", f"profile {name!r}: {problem}"))
        return tuple(problems)

    # -- workers -------------------------------------------------------------

    def _model(self, worker: WorkerRecord, diagnostics: tuple[Diagnostic, ...] | None = None) -> Worker:
        if diagnostics is not None:
            # Just created: as created (idle, no entries), whatever happened to
            # it while its commit was awaited.
            created = Worker(
                self.runtime_id,
                worker.worker_id,
                KIND,
                worker.label,
                IDLE,
                worker.profile.name,
                worker.intent,
                worker.created_at,
                0,
                diagnostics,
                NO_TOTALS,
            )
            if not diagnostics:
                # The next read reuses it if nothing changed (checked below, as for any model):
                # the answer to the create is the first rendering the server caches.
                worker.model = created
            return created
        shown = worker.shown  # what readers see while a change is not committed (decision 0111)
        if shown is None:
            status, length, totals = worker.status, len(worker.transcript), worker.totals
        else:
            status, length, totals = shown[0], shown[2], shown[3]
        model = worker.model
        if (
            model is not None
            and model.status == status
            and model.transcript_length == length
            and model.totals is totals
            and model.label == worker.label
        ):
            return model  # unchanged since the last read: the server renders it from its cache
        model = Worker(
            self.runtime_id,
            worker.worker_id,
            KIND,
            worker.label,
            status,
            worker.profile.name,
            worker.intent,
            worker.created_at,
            length,
            totals=totals,
        )
        worker.model = model
        return model

    async def list_workers(self, *, limit: int, cursor: str | None) -> WorkerPage:
        """Workers in creation order; the opaque cursor names the last worker of the previous page."""
        await self.runtime.refresh()
        workers, next_cursor = self.runtime.list_workers(limit=limit, cursor=cursor)
        return WorkerPage(self.runtime_id, tuple(map(self._model, workers)), next_cursor)

    async def filter_workers(self, worker_filter: WorkerFilter, *, limit: int, cursor: str | None) -> WorkerPage:
        """The workers ``worker_filter`` matches, in creation order, read from the roster (decision 0200)."""
        await self.runtime.refresh()

        def matches(worker: WorkerRecord) -> bool:
            shown = worker.shown  # the status readers see, as _model shows it
            status = worker.status if shown is None else shown[0]
            return worker_filter.admits(status, worker.profile.name, worker.label)

        workers, next_cursor = self.runtime.list_workers(limit=limit, cursor=cursor, where=matches)
        return WorkerPage(self.runtime_id, tuple(map(self._model, workers)), next_cursor)

    async def get_worker(self, worker_id: str) -> Worker:
        """One worker."""
        await self.runtime.refresh()
        return self._model(self.runtime.get_worker(worker_id))

    async def create_worker(self, request: CreateWorkerRequest) -> Worker:
        """A new idle worker; ``UnknownProfile`` (422) for a profile the runtime does not have."""
        await self.runtime.refresh()
        created = await self.runtime.create_worker(
            intent=request.intent, profile=request.profile, label=request.label, capabilities=request.capabilities
        )
        return self._model(created.worker, created.diagnostics)

    async def list_profiles(self) -> ProfileList:
        """The builtin profiles and the operator's: name, engine, description, tools, which is the default."""
        return ProfileList(self.runtime_id, self.runtime.profiles.listing())

    async def send_input(self, worker_id: str, request: InputRequest) -> InputAccepted:
        """Accept input and start a turn; while one runs, what ``if_busy`` says (reject, enqueue, interrupt)."""
        # Every policy is the store's decision (on PostgreSQL, the database's: decision 0184):
        # no refresh round trip for a worker the replica knows (decision 0231).
        # The members' values as stored (``_value_``): ``.value`` is a property of two Python calls (decision 0263).
        policy = request.if_busy._value_
        await self.runtime.refresh(deciding_on=worker_id)
        done = await self.runtime.send_input(worker_id, request.content, role=request.kind._value_, if_busy=policy)
        return InputAccepted(self.runtime_id, worker_id, done.sequence, done.event_id, done.status, done.queue_position)

    async def cancel_worker(self, worker_id: str) -> WorkerActionResult:
        """Cancel the in-flight turn and drop its queue; ``changed`` is ``False`` when there was none."""
        return await self._cancel(worker_id, keep_queued=False)

    async def cancel_worker_keeping_queue(self, worker_id: str) -> WorkerActionResult:
        """Cancel the in-flight turn; the next queued input's turn starts."""
        return await self._cancel(worker_id, keep_queued=True)

    async def _cancel(self, worker_id: str, *, keep_queued: bool) -> WorkerActionResult:
        await self.runtime.refresh()
        done = await self.runtime.cancel(worker_id, keep_queued=keep_queued)
        return WorkerActionResult(self.runtime_id, worker_id, "cancel", done.changed, done.status)

    async def stop_worker(self, worker_id: str) -> WorkerActionResult:
        """Stop the worker for good; ``changed`` is ``False`` when it already was."""
        await self.runtime.refresh()
        done = await self.runtime.stop(worker_id)
        return WorkerActionResult(self.runtime_id, worker_id, "stop", done.changed, done.status)

    async def delete_worker(self, worker_id: str) -> WorkerActionResult:
        """Remove the worker for good, freeing its capacity slot; ``UnknownWorker`` afterwards."""
        await self.runtime.refresh()
        await self.runtime.delete(worker_id)
        return WorkerActionResult(self.runtime_id, worker_id, "delete", True, STOPPED)

    async def read_transcript(self, worker_id: str, *, start: int, limit: int) -> TranscriptPage:
        """A bounded transcript page."""
        await self.runtime.refresh()
        page = await self.runtime.read_transcript_bounded(worker_id, start=start, limit=limit)
        return TranscriptPage(self.runtime_id, worker_id, page.items, start, limit, page.total, page.next_start)

    # -- events --------------------------------------------------------------

    async def read_events(self, *, cursor: int | None, limit: int, worker_id: str | None = None) -> EventPage:
        """Events after ``cursor``; ``CursorExpired`` outside the retained range."""
        await self.runtime.refresh()
        found = await self.runtime.page_events(cursor=cursor, limit=limit, worker_id=worker_id)
        return EventPage(self.runtime_id, tuple(found.events), found.next_cursor, found.has_more)

    async def wait_for_events(self, *, cursor: int, timeout: float) -> bool:
        """Wait for an event after ``cursor``; ``False`` at once after close."""
        return await self.runtime.wait_for_events(cursor=cursor, timeout=timeout)

    def open_live_events(self) -> LiveSubscription | None:
        """A subscription to live-only ``worker.output_delta`` events; ``None`` after close."""
        if self.runtime.closed:
            return None
        return self.runtime.events.subscribe()


@hookimpl
def register_runtime_kinds(register: Callable[[RuntimeKind], None]) -> None:
    """Register the ``embedded`` runtime kind."""
    register(
        RuntimeKind(
            name=KIND,
            description="In-process workers with a durable SQLite, a memory or a shared PostgreSQL store; turns run through turn engines",
            factory=EmbeddedProvider,
            settings_type=EmbeddedSettings,
        )
    )


@hookimpl
def register_turn_engines(register: Callable[[TurnEngine], None]) -> None:
    """Register the builtin engines: ``record``, ``echo`` and ``llm`` (which imports llm only when a turn runs or a profile is checked)."""
    for engine in (RECORD, ECHO, LLM):
        register(engine)


@hookimpl
def register_worker_tools(register: Callable[[WorkerTool], None]) -> None:
    """Register the builtin tool ``clock``."""
    register(CLOCK)
