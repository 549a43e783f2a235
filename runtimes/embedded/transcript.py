"""A worker's transcript: gapless 1-based sequences, compact entries, O(page) reads.

Entries are stored as slotted records holding the content, a shared role
string, the event id and the time as a float; the public
:class:`~registry_core.models.TranscriptEntry` (with its ``datetime``) is built
only for the entries of a page being read. That keeps an entry at about 130
bytes beyond its content (goal: 250).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from registry_core.models import TranscriptEntry

__all__ = ["Transcript", "USER", "SYSTEM", "ASSISTANT", "ROLES"]

USER = "user"
SYSTEM = "system"
ASSISTANT = "assistant"
#: The roles an entry may have, as the shared strings every entry refers to.
ROLES = {role: role for role in (USER, SYSTEM, ASSISTANT)}


class _Entry:
    """One stored entry. A ``__slots__`` class without ``__weakref__``: 56 bytes plus its fields."""

    __slots__ = ("role", "content", "event_id", "created")

    def __init__(self, role: str, content: str, event_id: int, created: float) -> None:
        self.role = role
        self.content = content
        self.event_id = event_id
        self.created = created


class Transcript:
    """The entries of one worker, in order. Entries are never removed or changed."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: list[_Entry] = []

    def __len__(self) -> int:
        return len(self._entries)

    def append(self, role: str, content: str, event_id: int) -> int:
        """Add an entry and return its sequence number (1-based)."""
        self._entries.append(_Entry(ROLES[role], content, event_id, time.time()))
        return len(self._entries)

    def page(self, *, start: int, limit: int) -> tuple[tuple[TranscriptEntry, ...], int | None]:
        """Entries with ``sequence >= start``, at most ``limit``, and the next start (``None`` at the end)."""
        selected = self._entries[start - 1 : start - 1 + limit]
        items = tuple(
            TranscriptEntry(
                start + offset,
                entry.role,
                entry.content,
                entry.event_id,
                datetime.fromtimestamp(entry.created, timezone.utc),
            )
            for offset, entry in enumerate(selected)
        )
        following = start + len(selected)
        return items, (following if selected and following <= len(self._entries) else None)
