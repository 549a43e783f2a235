"""Building blocks for runtime kinds that own their workers: the rules that are easy to get wrong, done once.

- :class:`EventLog` — events with gapless, never-reused ids, bounded
  retention, cursors (``0`` is "before the first event"; an expired or future
  cursor is ``CursorExpired``, never a silent skip), per-worker reads and
  waiting for the live stream;
- :class:`Transcript` — a worker's entries, gapless from 1, paged in O(page);
- :class:`Roster` — workers by id: opaque ids that are never reused, and list
  cursors that survive deletes;
- :class:`WorkerLifecycle` — workers whose turns run your turn function: the
  busy rule, status, cancel/stop/delete/shutdown with the contract's events
  and reasons, ``max_workers``, profile fallback, input length (0.4).

The embedded runtime's event log is this ``EventLog``; its roster and
transcripts follow the same rules (decisions 0055, 0065).
Importing this package loads no host machinery.

.. versionadded:: 0.3
"""

from registry_core.blocks.event_log import EventLog, EventSlice, clock_start_id
from registry_core.blocks.lifecycle import TurnFunction, TurnInput, WorkerLifecycle
from registry_core.blocks.roster import Roster
from registry_core.blocks.transcript import Transcript

__all__ = [
    "EventLog",
    "EventSlice",
    "Roster",
    "Transcript",
    "TurnFunction",
    "TurnInput",
    "WorkerLifecycle",
    "clock_start_id",
]
