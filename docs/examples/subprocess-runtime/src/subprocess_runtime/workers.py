"""One worker's state: identity, transcript and the turn in flight."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import attrs
from registry_core import Diagnostic, Intent, TranscriptEntry, TranscriptPage, Worker

__all__ = ["WorkerState", "IDLE", "BUSY", "STOPPED"]

#: Worker statuses, the same words the built-in embedded kind uses.
IDLE, BUSY, STOPPED = "idle", "busy", "stopped"


@attrs.define(eq=False)
class WorkerState:
    """A worker of a ``subprocess`` runtime.

    ``turn`` is the task running the command for the current input, ``None``
    while idle. ``stopped`` is final.
    """

    worker_id: str
    label: str | None
    intent: Intent | None
    profile: str
    created_at: datetime = attrs.Factory(lambda: datetime.now(timezone.utc))
    transcript: list[TranscriptEntry] = attrs.Factory(list)
    turn: asyncio.Task[None] | None = None
    stopped: bool = False

    @property
    def status(self) -> str:
        """``stopped``, ``busy`` (a turn runs) or ``idle``."""
        if self.stopped:
            return STOPPED
        return BUSY if self.turn is not None else IDLE

    @property
    def next_sequence(self) -> int:
        """The sequence number the next transcript entry gets."""
        return len(self.transcript) + 1

    def add_entry(self, role: str, content: str, event_id: int | None) -> TranscriptEntry:
        """Append a transcript entry with the next sequence number."""
        entry = TranscriptEntry(self.next_sequence, role, content, event_id, datetime.now(timezone.utc))
        self.transcript.append(entry)
        return entry

    def page(self, runtime_id: str, *, start: int, limit: int) -> TranscriptPage:
        """Entries from ``start`` (1-based), at most ``limit``; ``next_start`` is ``None`` at the end."""
        items = tuple(self.transcript[start - 1 : start - 1 + limit])
        end = start + len(items)
        next_start = end if items and end <= len(self.transcript) else None
        return TranscriptPage(runtime_id, self.worker_id, items, start, limit, len(self.transcript), next_start)

    def to_model(self, runtime_id: str, kind: str, diagnostics: tuple[Diagnostic, ...] = ()) -> Worker:
        """The worker as clients see it."""
        return Worker(
            runtime_id=runtime_id,
            worker_id=self.worker_id,
            kind=kind,
            label=self.label,
            status=self.status,
            profile=self.profile,
            intent=self.intent,
            created_at=self.created_at,
            transcript_length=len(self.transcript),
            diagnostics=diagnostics,
        )
