"""A worker's transcript: gapless 1-based sequences, immutable entries, O(page) reads.

Entries never change once appended, so each is stored as the public
:class:`~registry_core.models.TranscriptEntry` itself, built once at append
time. A page is then a slice of the list: reading 50 entries no longer builds
50 models and 50 ``datetime`` objects per request, and the server's per-entry
JSON fragment cache finds the very same objects again. The price is memory per
entry, within its goal (decision 0050; the figures are in docs/performance.md,
"Embedded runtime scaling and memory").
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from registry_core.models import TranscriptEntry

__all__ = [
    "ASSISTANT",
    "ENTRY_ENVELOPE_BYTES",
    "ROLES",
    "SYSTEM",
    "TOOL_CALL",
    "TOOL_RESULT",
    "USER",
    "Transcript",
    "TranscriptStorage",
]

USER = "user"
SYSTEM = "system"
ASSISTANT = "assistant"
#: A model's call of a tool; the content is the JSON of ``{call_id, name, arguments}``.
TOOL_CALL = "tool_call"
#: A tool call's outcome; the content is the JSON of ``{call_id, name, output, is_error}``.
TOOL_RESULT = "tool_result"
#: The roles an entry may have, as the shared strings every entry refers to.
ROLES = {role: role for role in (USER, SYSTEM, ASSISTANT, TOOL_CALL, TOOL_RESULT)}
#: An upper bound of an entry's JSON besides its content: keys, sequence,
#: role, event id, timestamp and punctuation (pages bounded by bytes, decision 0080).
ENTRY_ENVELOPE_BYTES = 128


class TranscriptStorage(Protocol):
    """What the runtime needs of a worker's transcript, wherever its entries live (decision 0085)."""

    def __len__(self) -> int: ...

    def append(self, role: str, content: str, event_id: int) -> int:
        """Add an entry and return its sequence number (1-based)."""
        ...

    def page(self, *, start: int, limit: int) -> tuple[tuple[TranscriptEntry, ...], int | None]:
        """Entries with ``sequence >= start``, at most ``limit``, and the next start (``None`` at the end)."""
        ...


class Transcript:
    """The entries of one worker, in order, in memory. Entries are never removed or changed."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: list[TranscriptEntry] = []

    def __len__(self) -> int:
        return len(self._entries)

    def append(self, role: str, content: str, event_id: int) -> int:
        """Add an entry and return its sequence number (1-based)."""
        sequence = len(self._entries) + 1
        self._entries.append(TranscriptEntry(sequence, ROLES[role], content, event_id, datetime.now(UTC)))
        return sequence

    def page(self, *, start: int, limit: int) -> tuple[tuple[TranscriptEntry, ...], int | None]:
        """Entries with ``sequence >= start``, at most ``limit``, and the next start (``None`` at the end)."""
        items = tuple(self._entries[start - 1 : start - 1 + limit])
        following = start + len(items)
        return items, (following if items and following <= len(self._entries) else None)
