"""A worker's transcript: gapless 1-based sequences, immutable entries, bounded pages in O(page).

A building block of the plugin API. Entries never change once appended, so
each is stored as the public :class:`~registry_core.models.TranscriptEntry`
itself, built once; a page is a slice (the embedded runtime's rule, decision
0050).
"""

from __future__ import annotations

from datetime import UTC, datetime

from registry_core.errors import CapacityExceeded
from registry_core.models import TranscriptEntry, TranscriptPage

__all__ = ["Transcript"]


class Transcript:
    """The entries of one worker, in order. Entries are never removed or changed.

    :param max_entries: the most entries it may hold (``None``: no limit);
        :meth:`reserve` refuses a turn that would not fit.
    """

    __slots__ = ("_entries", "max_entries")

    def __init__(self, *, max_entries: int | None = None) -> None:
        self._entries: list[TranscriptEntry] = []
        self.max_entries = max_entries

    def __len__(self) -> int:
        """How many entries it holds."""
        return len(self._entries)

    @property
    def next_sequence(self) -> int:
        """The sequence the next entry gets: put it in the event that announces the entry."""
        return len(self._entries) + 1

    def reserve(self, entries: int, *, worker_id: str | None = None) -> None:
        """Check there is room for ``entries`` more (a turn's input and reply) before the turn starts.

        :raises CapacityExceeded: there is not; a turn is refused whole, never cut short.
        """
        if self.max_entries is not None and len(self._entries) + entries > self.max_entries:
            raise CapacityExceeded(f"the worker's transcript is full ({self.max_entries} entries)", worker_id=worker_id)

    def append(self, role: str, content: str, event_id: int | None) -> TranscriptEntry:
        """Add an entry with the next sequence and return it.

        :param event_id: the id of the event that announced the entry
            (``worker.input_accepted``, ``worker.output``), or ``None``.
        """
        entry = TranscriptEntry(len(self._entries) + 1, role, content, event_id, datetime.now(UTC))
        self._entries.append(entry)
        return entry

    def entries(self, *, start: int, limit: int) -> tuple[tuple[TranscriptEntry, ...], int | None]:
        """Entries with ``sequence >= start``, at most ``limit``, and the next start (``None`` at the end)."""
        items = tuple(self._entries[start - 1 : start - 1 + limit])
        following = start + len(items)
        return items, (following if items and following <= len(self._entries) else None)

    def page(self, runtime_id: str, worker_id: str, *, start: int, limit: int) -> TranscriptPage:
        """The :class:`~registry_core.models.TranscriptPage` that ``RuntimeProvider.read_transcript`` returns."""
        items, next_start = self.entries(start=start, limit=limit)
        return TranscriptPage(runtime_id, worker_id, items, start, limit, len(self._entries), next_start)
