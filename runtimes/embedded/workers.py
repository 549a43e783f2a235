"""The runtime's record of one worker."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING

from registry_core.blocks import Transcript
from registry_core.engines import EngineProfile
from registry_core.models import Intent, Worker, WorkerTotals
from registry_core.tools import WorkerTool
from runtime_registry.runtimes.embedded.totals import NO_TOTALS
from runtime_registry.runtimes.embedded.transcript import TranscriptStorage

if TYPE_CHECKING:
    from runtime_registry.runtimes.embedded.turn_task import InstantTurn

__all__ = ["BUSY", "IDLE", "STATUSES", "STOPPED", "WorkerRecord"]

IDLE = "idle"
BUSY = "busy"
STOPPED = "stopped"
#: Every status an embedded worker can have.
STATUSES = (IDLE, BUSY, STOPPED)


class WorkerRecord:
    """One worker's state. Slotted, so an idle worker stays within its memory goal (docs/performance.md).

    ``profile`` is the resolved profile (the runtime's ``ProfileBook`` holds
    its engine and tools). ``turn`` is the in-flight turn's asyncio task
    (``None`` when idle or stopped); it runs the profile's engine. ``turn_number`` counts the turns
    started so far. ``serial`` is the worker's creation serial: unique in the
    runtime, never reused, increasing with creation order (decision 0065).
    """

    __slots__ = (
        "created_at",
        "intent",
        "label",
        "model",
        "profile",
        "serial",
        "shown",
        "status",
        "status_since",
        "tools",
        "totals",
        "transcript",
        "turn",
        "turn_number",
        "turn_of_task",
        "waiting",
        "worker_id",
    )

    def __init__(
        self,
        worker_id: str,
        label: str | None,
        intent: Intent,
        profile: EngineProfile,
        created_at: datetime,
        serial: int,
        transcript: TranscriptStorage | None = None,
    ) -> None:
        self.worker_id = worker_id
        self.label = label
        self.intent = intent
        self.profile = profile
        self.created_at = created_at
        self.status = IDLE
        #: When the worker entered its status (epoch seconds): idle since,
        #: busy since or stopped since. Culling measures from it (decision 0220).
        self.status_since = created_at.timestamp()
        # The store decides where entries live (decision 0085); a record built
        # without one keeps them in memory.
        self.transcript: TranscriptStorage = Transcript() if transcript is None else transcript
        #: The running turn's task, or the handle of a turn that ends at once (decision 0247).
        self.turn: asyncio.Task[None] | InstantTurn | None = None
        #: The turn number the task in ``turn`` runs (turns may be decided on other replicas meanwhile).
        self.turn_of_task = 0
        self.turn_number = 0
        #: What its ended turns added up to (decision 0201): kept from its events by the store.
        self.totals = NO_TOTALS
        self.serial = serial
        #: The tools granted at create (a subset of the profile's).
        self.tools: tuple[WorkerTool, ...] = ()
        #: What readers see while a change is not yet committed (a store with a
        #: committed watermark): ``(status, turn_number, transcript length, totals)``;
        #: ``None`` when they see the record as it is (decision 0111).
        self.shown: tuple[str, int, int, WorkerTotals] | None = None
        #: Claimed (``busy``) by an input that waits for a turn slot (admission): no turn of it runs.
        self.waiting = False
        #: The public model last built for it (the provider's): a read of an
        #: unchanged worker returns the same object, whose rendering the
        #: server has cached by identity.
        self.model: Worker | None = None

    def in_turn(self, turn: int) -> bool:
        """Whether turn ``turn`` is still the worker's (not cancelled, stopped, deleted or superseded,
        and not an input waiting for a turn slot)."""
        return self.status is BUSY and self.turn_number == turn and not self.waiting
