"""The embedded runtime's event log: the plugin API's :class:`~registry_core.blocks.EventLog` block.

The embedded runtime uses the same block third-party kinds do (decision 0102):
gapless ids from the clock, bounded retention, per-worker indexes, cursors
that expire instead of skipping, waiters, and — for the SQLite store —
``on_append`` and ``restore``. This module keeps the runtime's import path.
"""

from registry_core.blocks.event_log import EventLog, EventSlice, clock_start_id

__all__ = ["EventLog", "EventSlice", "clock_start_id"]
