"""The store seam: where an embedded runtime's workers, transcripts and events live.

The runtime keeps its *hot state* in memory whatever the store: every worker's
record (status, turn number, transcript length) and the event log's retained
window. That keeps every operation synchronous in the event loop, so the busy
rule stays atomic without a lock (decision 0006). A store is told of each
change as it happens, in the loop's thread, and decides where it goes:

- :class:`MemoryStore` keeps transcripts in memory and nothing else: today's
  behaviour, everything ends with the process;
- :class:`~runtime_registry.runtimes.embedded.sqlite_store.SQLiteStore` queues
  each change for one writer thread that commits them in groups, and reads
  transcripts back from its file page by page (decision 0085).

A store decides *where state lives*, never *what a turn does*.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime

import attrs

from registry_core.models import Diagnostic, Event, Intent
from runtime_registry.runtimes.embedded.transcript import Transcript, TranscriptStorage
from runtime_registry.runtimes.embedded.workers import WorkerRecord

__all__ = ["MemoryStore", "StoreMeta", "StoreSnapshot", "StoreUnusable", "StoredWorker", "WorkerStore"]


class StoreUnusable(Exception):
    """The store cannot be opened: damaged, foreign, newer, or in use elsewhere.

    ``str()`` is safe to show to clients (a diagnostic): it names no path.
    """


@attrs.frozen
class StoreMeta:
    """What makes a runtime's ids and cursors continue across restarts.

    :param first_serial: the first worker serial the runtime ever issued.
    :param next_serial: the serial the next created worker gets.
    :param first_event_id: the first event id the runtime ever issued
        (``cursor=0`` means "before it").
    :param last_event_id: the newest event id issued (``first_event_id - 1`` before any).
    :param cursor_tag: the tag that ends every list cursor of this runtime.
    """

    first_serial: int
    next_serial: int
    first_event_id: int
    last_event_id: int
    cursor_tag: str


@attrs.frozen
class StoredWorker:
    """One worker as a store keeps it."""

    serial: int
    worker_id: str
    label: str | None
    intent: Intent
    profile: str
    created_at: datetime
    status: str
    turn_number: int
    entries: int
    #: The names of the tools granted at create (``capabilities: ["tool:NAME"]``).
    tools: tuple[str, ...] = ()


@attrs.frozen
class StoreSnapshot:
    """What a durable store holds at open: ids, workers, and the retained events, oldest first."""

    meta: StoreMeta
    workers: tuple[StoredWorker, ...] = ()
    events: tuple[Event, ...] = ()


class WorkerStore:
    """The seam. Every method but :meth:`open` and :meth:`close` is called in the loop's thread and never suspends."""

    #: Whether what the store holds outlives the process.
    durable: bool = False

    def bind(self, workers: Mapping[str, WorkerRecord]) -> None:
        """Give the store the runtime's worker map (it reads records' hot state when it saves)."""

    async def open(self, fresh: StoreMeta) -> StoreSnapshot | None:
        """Open the store: ``None`` when it holds nothing by design (memory), else what it holds.

        :param fresh: the ids a store that holds nothing yet starts from.
        :raises StoreUnusable: the store must not be used (and is left untouched).
        """
        return None

    def new_transcript(self, serial: int) -> TranscriptStorage:
        """An empty transcript for the worker with ``serial``."""
        return Transcript()

    def restored_transcript(self, serial: int, length: int) -> TranscriptStorage:
        """The transcript of a restored worker, ``length`` entries long."""
        raise NotImplementedError("a memory store restores nothing")

    def worker_added(self, worker: WorkerRecord) -> None:
        """A worker was created (called before its ``worker.created`` event)."""

    def worker_removed(self, worker: WorkerRecord) -> None:
        """A worker was deleted: forget it and its transcript."""

    def event_appended(self, event: Event) -> None:
        """An event was appended to the log (its worker's hot state may have changed)."""

    def check_writable(self) -> None:
        """Raise ``RuntimeUnavailable`` while the store cannot take writes (disk full, read-only)."""

    def barrier(self) -> asyncio.Future[None] | None:
        """A future that completes when every change made so far is committed; ``None`` if nothing waits.

        It fails with ``RuntimeUnavailable`` if the commit fails (the changes
        stay queued and are committed once the store can write again).
        """
        return None

    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """Problems to report in the runtime's status (``store_write_failed``); client-safe."""
        return ()

    async def close(self) -> None:
        """Commit everything queued and release the store; idempotent."""


class MemoryStore(WorkerStore):
    """Everything in the process's memory: nothing outlives it. The default for a runtime built as a library."""

    durable = False
