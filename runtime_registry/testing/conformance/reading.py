"""Reading a runtime whole through the registry, checking every paging rule on the way.

:class:`RuntimeReader` walks worker lists, transcripts and event logs page by
page. Each walk is itself a check: pages bounded by ``limit``, cursors that
advance and never repeat, sequences without gaps, totals that agree.
"""

from __future__ import annotations

from registry_core.models import (
    Capabilities,
    Event,
    EventPage,
    RuntimeSummary,
    TranscriptEntry,
    TranscriptPage,
    Worker,
    WorkerFilter,
    WorkerPage,
)
from runtime_registry.host.registry import RuntimeRegistry

from .contract import ContractViolation, require, succeeds

__all__ = ["MAX_PAGES", "RuntimeReader"]

#: The most pages a walk reads before it calls a cursor a loop.
MAX_PAGES = 10_000


class RuntimeReader:
    """One runtime of a registry (``registry`` + ``runtime_id``), read through the registry as the server reads it."""

    def __init__(self, registry: RuntimeRegistry, runtime_id: str, capabilities: Capabilities) -> None:
        self.registry = registry
        self.runtime_id = runtime_id
        #: What the runtime said it can do when the check began (capabilities come from the provider's class).
        self.capabilities = capabilities

    async def describe(self) -> RuntimeSummary:
        """The runtime's summary, as ``GET /api/runtimes/{id}`` would give it."""
        return await self.registry.describe_runtime(self.runtime_id)

    async def all_workers(self, *, limit: int) -> list[Worker]:
        """Every worker, page by page, checking that pages are bounded and cursors advance."""
        limit = min(limit, (await self.describe()).limits.worker_page_max)
        workers: list[Worker] = []
        cursor: str | None = None
        seen_cursors: set[str] = set()
        for _ in range(MAX_PAGES):
            page: WorkerPage = await succeeds(
                "list_workers", self.registry.list_workers(self.runtime_id, limit=limit, cursor=cursor)
            )
            require(len(page.items) <= limit, f"list_workers(limit={limit}) returned {len(page.items)} workers")
            workers.extend(page.items)
            if page.next_cursor is None:
                return workers
            require(
                page.items, "list_workers returned an empty page with a next_cursor: an empty page must end the list"
            )
            require(
                page.next_cursor not in seen_cursors, f"list_workers returned the cursor {page.next_cursor!r} twice"
            )
            seen_cursors.add(page.next_cursor)
            cursor = page.next_cursor
        raise ContractViolation(f"list_workers did not reach next_cursor None in {MAX_PAGES} pages")

    async def filtered_workers(self, worker_filter: WorkerFilter, *, limit: int) -> list[Worker]:
        """Every worker ``worker_filter`` matches, page by page: bounded pages, advancing cursors.

        A filtered page may be short, even empty, as long as it carries a cursor.
        """
        limit = min(limit, (await self.describe()).limits.worker_page_max)
        workers: list[Worker] = []
        cursor: str | None = None
        seen_cursors: set[str] = set()
        for _ in range(MAX_PAGES):
            page: WorkerPage = await succeeds(
                f"list_workers filtered by {worker_filter}",
                self.registry.list_workers(self.runtime_id, limit=limit, cursor=cursor, worker_filter=worker_filter),
            )
            require(len(page.items) <= limit, f"a filtered list (limit={limit}) returned {len(page.items)} workers")
            workers.extend(page.items)
            if page.next_cursor is None:
                return workers
            require(
                page.next_cursor not in seen_cursors, f"a filtered list returned the cursor {page.next_cursor!r} twice"
            )
            seen_cursors.add(page.next_cursor)
            cursor = page.next_cursor
        raise ContractViolation(f"a filtered list did not reach next_cursor None in {MAX_PAGES} pages")

    async def whole_transcript(self, worker_id: str, *, limit: int) -> list[TranscriptEntry]:
        """The whole transcript, page by page, checking every paging invariant on the way."""
        limit = min(limit, (await self.describe()).limits.transcript_page_max)
        entries: list[TranscriptEntry] = []
        start, total = 1, None
        for _ in range(MAX_PAGES):
            where = f"read_transcript(start={start}, limit={limit})"
            page: TranscriptPage = await succeeds(
                where, self.registry.read_transcript(self.runtime_id, worker_id, start=start, limit=limit)
            )
            total = _check_transcript_page(page, worker_id, start, limit, total, where)
            entries.extend(page.items)
            if page.next_start is None:
                require(
                    len(entries) == total, f"the transcript says total {total} but {len(entries)} entries were read"
                )
                return entries
            start = page.next_start
        raise ContractViolation(f"read_transcript did not reach next_start None in {MAX_PAGES} pages")

    async def all_events(self, *, worker_id: str | None = None, limit: int | None = None) -> list[Event]:
        """Every retained event from the oldest, page by page, checking pages and cursors on the way."""
        events: list[Event] = []
        cursor: int | None = None
        for _ in range(MAX_PAGES):
            where = (
                f"read_events(cursor={cursor}, limit={limit}{', worker_id=' + repr(worker_id) if worker_id else ''})"
            )
            page: EventPage = await succeeds(
                where, self.registry.read_events(self.runtime_id, cursor=cursor, limit=limit, worker_id=worker_id)
            )
            _check_event_page(page, cursor, limit, where)
            events.extend(page.events)
            if not page.has_more:
                return events
            require(page.next_cursor != cursor, f"{where} says has_more but its next_cursor did not advance")
            cursor = page.next_cursor
        raise ContractViolation(f"read_events kept saying has_more for {MAX_PAGES} pages")

    async def event_ids_after(self, cursor: int) -> list[int]:
        """The ids of every event after ``cursor``, page by page; :class:`~registry_core.errors.CursorExpired` propagates."""
        ids: list[int] = []
        for _ in range(MAX_PAGES):
            page: EventPage = await self.registry.read_events(self.runtime_id, cursor=cursor)
            ids.extend(event.id for event in page.events)
            if not page.has_more or page.next_cursor == cursor:
                return ids
            cursor = page.next_cursor
        raise ContractViolation(f"read_events kept saying has_more for {MAX_PAGES} pages")

    async def latest_cursor(self) -> int:
        """The newest event id (0 when there is none)."""
        events = await self.all_events()
        return events[-1].id if events else 0


def _check_transcript_page(
    page: TranscriptPage, worker_id: str, start: int, limit: int, total: int | None, where: str
) -> int:
    """Check one transcript page read at ``start``; return its total (which must equal ``total`` if known)."""
    require(page.worker_id == worker_id, f"{where} answered for worker {page.worker_id!r}")
    require(
        (page.start, page.limit) == (start, limit),
        f"{where} must echo start and limit; it said {page.start}, {page.limit}",
    )
    require(len(page.items) <= limit, f"{where} returned {len(page.items)} entries")
    sequences = [entry.sequence for entry in page.items]
    require(
        sequences == list(range(start, start + len(sequences))),
        f"{where} must return sequences from {start} without gaps; it returned {sequences}",
    )
    require(total is None or page.total == total, f"the transcript total changed from {total} to {page.total} at rest")
    end = start + len(page.items)
    expected_next = end if page.items and end <= page.total else None
    require(
        page.next_start == expected_next,
        f"{where} returned entries {sequences} of {page.total}: next_start must be {expected_next}, not {page.next_start}",
    )
    for entry in page.items:
        require(isinstance(entry.role, str) and entry.role, f"transcript entry {entry.sequence} has no role")
        require(isinstance(entry.content, str), f"transcript entry {entry.sequence} has non-text content")
    return page.total


def _check_event_page(page: EventPage, cursor: int | None, limit: int | None, where: str) -> None:
    """Check one event page read after ``cursor``: bounded, only newer events, a cursor that never moves back."""
    if limit is not None:
        require(len(page.events) <= limit, f"{where} returned {len(page.events)} events")
    ids = [event.id for event in page.events]
    require(
        cursor is None or all(i > cursor for i in ids),
        f"{where} must return only events after the cursor; it returned ids {ids}",
    )
    require(
        isinstance(page.next_cursor, int) and not isinstance(page.next_cursor, bool),
        f"{where} returned next_cursor {page.next_cursor!r}; it must be an integer",
    )
    require(not ids or page.next_cursor >= ids[-1], f"{where} returned ids {ids} but next_cursor {page.next_cursor}")
    require(cursor is None or page.next_cursor >= cursor, f"{where} moved the cursor back to {page.next_cursor}")
