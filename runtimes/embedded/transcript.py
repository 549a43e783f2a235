"""A worker's transcript as the runtime sees it: roles, sizes, and what a store's transcript provides.

A memory store keeps each worker's entries in the public
:class:`registry_core.blocks.Transcript` block (immutable
:class:`~registry_core.models.TranscriptEntry` objects built once at append,
pages as slices: decision 0050); the SQLite store's transcript has the same
API over its file (:class:`TranscriptStorage`).
"""

from __future__ import annotations

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
    """What the runtime needs of a worker's transcript, wherever its entries live: the block's API (decision 0112)."""

    def __len__(self) -> int: ...

    def append(self, role: str, content: str, event_id: int | None) -> TranscriptEntry:
        """Add an entry with the next sequence (1-based) and return it."""
        ...

    def entries(self, *, start: int, limit: int) -> tuple[tuple[TranscriptEntry, ...], int | None]:
        """Entries with ``sequence >= start``, at most ``limit``, and the next start (``None`` at the end)."""
        ...
