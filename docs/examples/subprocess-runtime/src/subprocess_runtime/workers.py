"""One worker's state: identity, transcript and the turn in flight."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import attrs

from registry_core import Diagnostic, Intent, Worker
from registry_core.blocks import Transcript

__all__ = ["WorkerState", "IDLE", "BUSY", "STOPPED"]

#: Worker statuses, the same words the built-in embedded kind uses.
IDLE, BUSY, STOPPED = "idle", "busy", "stopped"


@attrs.define(eq=False)
class WorkerState:
    """A worker of a ``subprocess`` runtime.

    ``turn`` is the task running the command for the current input, ``None``
    while idle; ``turn_number`` counts the turns started. ``stopped`` is final.
    ``cancel_reason`` says who cancels the running turn (``cancel``, ``stop``;
    ``shutdown`` when nobody said).
    """

    worker_id: str
    label: str | None
    intent: Intent | None
    profile: str
    transcript: Transcript
    created_at: datetime = attrs.Factory(lambda: datetime.now(UTC))
    turn: asyncio.Task[None] | None = None
    turn_number: int = 0
    cancel_reason: str = "shutdown"
    stopped: bool = False

    @property
    def status(self) -> str:
        """``stopped``, ``busy`` (a turn runs) or ``idle``."""
        if self.stopped:
            return STOPPED
        return BUSY if self.turn is not None else IDLE

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
