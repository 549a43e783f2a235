"""A replica's transcripts, bounded: lengths always, entries for the recently used, reread on demand (decision 0233).

Decision 0135 had each replica hold every transcript in memory, as a
memory store does. Transcripts are in the database anyway, so a replica
keeps each worker's transcript **length** (what lists, gets and the busy rule
need), and the **entries** of recently used transcripts up to
``max_store_bytes`` of content; beyond it the least recently used entries of
idle workers are dropped and read again from the database when a page, or a
turn's history, needs them.

- Pages are served through :meth:`PgTranscript.bounded_entries` (the
  runtime's async transcript read): it loads an evicted transcript first.
- A turn's history is read synchronously by the engine; so accepting an input
  loads the worker's transcript (:meth:`TranscriptCache.load`), and a busy
  worker's transcript is never evicted.
- Replaying an event that wrote an entry appends it to a loaded transcript,
  or only counts it on an evicted one (the database has it).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from registry_core.errors import RuntimeUnavailable
from registry_core.models import TranscriptEntry
from registry_core.page_bytes import fit_to_bytes, text_size
from runtime_registry.runtimes.embedded.transcript import ENTRY_ENVELOPE_BYTES, ROLES
from runtime_registry.runtimes.embedded.workers import BUSY

if TYPE_CHECKING:
    from runtime_registry.runtimes.embedded.workers import WorkerRecord

__all__ = ["PgTranscript", "TranscriptCache"]

#: Reads a worker's numbered entries (by serial) from the database, oldest first.
LoadEntries = Callable[[int], Awaitable[Sequence[TranscriptEntry]]]


class PgTranscript:
    """A worker's transcript on a replica: its length always, its entries while cached."""

    __slots__ = ("_cache", "_entries", "_length", "bytes", "record", "serial")

    def __init__(self, cache: TranscriptCache, serial: int, length: int) -> None:
        self._cache = cache
        self.serial = serial
        self._length = length
        #: The entries while cached (``None``: evicted, or not read yet).
        self._entries: list[TranscriptEntry] | None = None
        #: What its cached entries' contents take (UTF-8 JSON bytes).
        self.bytes = 0
        #: The worker it belongs to (a busy worker's transcript is never evicted).
        self.record: WorkerRecord | None = None

    def __len__(self) -> int:
        return self._length

    @property
    def loaded(self) -> bool:
        """Whether the entries are in memory."""
        return self._entries is not None

    def append(self, role: str, content: str, event_id: int | None) -> TranscriptEntry:
        """Count a replayed entry, and keep it if the entries are cached."""
        self._length += 1
        entry = TranscriptEntry(self._length, ROLES.get(role, role), content, event_id, datetime.now(UTC))
        if self._entries is not None:
            self._entries.append(entry)
            self._cache.grew(self, text_size(content))
        return entry

    def entries(self, *, start: int, limit: int) -> tuple[tuple[TranscriptEntry, ...], int | None]:
        """Entries from ``start`` (cached ones only: a turn's history is loaded before the turn runs).

        :raises RuntimeUnavailable: the entries are not in memory (a synchronous reader found an
            evicted transcript; pages go through :meth:`bounded_entries`, which loads it).
        """
        if start > self._length:
            return (), None
        if self._entries is None:
            raise RuntimeUnavailable("the transcript is being read from the database; try again")
        self._cache.used(self)
        items = tuple(self._entries[start - 1 : start - 1 + limit])
        following = start + len(items)
        return items, (following if items and following <= self._length else None)

    async def bounded_entries(
        self, *, start: int, limit: int, max_bytes: int
    ) -> tuple[tuple[TranscriptEntry, ...], int | None, int]:
        """:meth:`entries` bounded by ``max_bytes`` of page JSON, and the length they were read at;
        an evicted transcript is read again first."""
        await self._cache.load(self)
        items, following = self.entries(start=start, limit=limit)
        if items:
            kept = fit_to_bytes((ENTRY_ENVELOPE_BYTES + text_size(e.content) for e in items), max_bytes)
            if kept < len(items):
                items, following = items[:kept], start + kept
        return items, following, self._length

    def _fill(self, entries: list[TranscriptEntry]) -> None:
        self._entries = entries
        self.bytes = sum(text_size(entry.content) for entry in entries)

    def _drop(self) -> None:
        self._entries = None
        self.bytes = 0


class TranscriptCache:
    """The entries of recently used transcripts, up to ``max_bytes`` of content (busy workers' always).

    :param load_entries: reads a worker's numbered entries from the database.
    :param max_bytes: the most content kept (``max_store_bytes``); a single
        transcript larger than it is still kept while it is used.
    """

    def __init__(self, load_entries: LoadEntries, max_bytes: int) -> None:
        self._load_entries = load_entries
        self.max_bytes = max_bytes
        self._order: OrderedDict[int, PgTranscript] = OrderedDict()
        #: Content bytes cached now.
        self.bytes = 0
        #: Transcripts read from the database (a test and the notes count them).
        self.loads = 0

    def transcript(self, serial: int, length: int) -> PgTranscript:
        """A new transcript of ``length`` entries, not read yet."""
        return PgTranscript(self, serial, length)

    def new_transcript(self, serial: int) -> PgTranscript:
        """The transcript of a worker just created: empty, and cached as such."""
        transcript = PgTranscript(self, serial, 0)
        transcript._fill([])
        self._order[serial] = transcript
        return transcript

    def used(self, transcript: PgTranscript) -> None:
        if transcript.serial in self._order:
            self._order.move_to_end(transcript.serial)

    def grew(self, transcript: PgTranscript, size: int) -> None:
        transcript.bytes += size
        self.bytes += size
        self.used(transcript)
        self._evict()

    async def load(self, transcript: PgTranscript) -> None:
        """Read ``transcript``'s entries from the database unless cached (they are the most recently used then).

        Replays that happen meanwhile count entries the read may not have
        seen: it reads again until it has every entry the replica counts.
        """
        while not transcript.loaded:
            entries = list(await self._load_entries(transcript.serial))
            if transcript.loaded:
                break
            wanted = len(transcript)
            if len(entries) < wanted:
                continue  # committed after the read began, replayed meanwhile: read again
            self.loads += 1
            transcript._fill(entries[:wanted])
            self._order[transcript.serial] = transcript
            self.bytes += transcript.bytes
        self.used(transcript)
        self._evict(keep=transcript)

    def forget(self, transcript: PgTranscript) -> None:
        """The worker was deleted."""
        if self._order.pop(transcript.serial, None) is not None:
            self.bytes -= transcript.bytes
        transcript._drop()

    def clear(self) -> None:
        """The replica reloads: nothing cached."""
        for transcript in self._order.values():
            transcript._drop()
        self._order.clear()
        self.bytes = 0

    def _evict(self, keep: PgTranscript | None = None) -> None:
        if self.bytes <= self.max_bytes:
            return
        for serial, transcript in list(self._order.items()):
            if self.bytes <= self.max_bytes:
                return
            if transcript is keep or (transcript.record is not None and transcript.record.status is BUSY):
                continue
            del self._order[serial]
            self.bytes -= transcript.bytes
            transcript._drop()
