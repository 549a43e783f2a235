"""What a turn's engine is given of the transcript: the newest entries within a byte budget (decision 0121).

A worker's transcript may hold 10,000 entries of 64 KB each; a model's context
holds far less, and reading all of it on the event loop stalled every other
request (2,000 entries of 4 KB: 140 ms in one piece on a SQLite store). So:

- **Bounded**: ``turn.history`` is the newest entries whose contents fit in the
  profile's ``max_history_bytes`` (UTF-8 bytes of the contents; envelopes,
  the system prompt and the input are not counted), oldest dropped first. An
  entry that does not fit ends the history there, even if an older, smaller
  one would fit: the history is always a suffix of the transcript.
- **Never opening on an orphan**: a ``tool_result`` whose ``tool_call`` was
  dropped is dropped too (model APIs refuse a result without its call).
- **Paged**: the transcript is read newest first, :data:`PAGE_ENTRIES` entries
  at a time; the async read yields to the event loop between pages, so no
  single step holds the loop for more than one page's read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from registry_core.models import TranscriptEntry
from registry_core.page_bytes import text_size
from runtime_registry.runtimes.embedded.transcript import TOOL_RESULT, TranscriptStorage

__all__ = ["PAGE_ENTRIES", "read_history", "read_history_now"]

#: Entries read per step: at 4 KB each about 0.2 ms of SQLite reads and model building.
PAGE_ENTRIES = 32


async def read_history(transcript: TranscriptStorage, length: int, max_bytes: int) -> tuple[TranscriptEntry, ...]:
    """Entries ``1..length``'s newest suffix within ``max_bytes``, read a page per event-loop step."""
    kept: list[TranscriptEntry] = []
    for _ in _collect(transcript, length, max_bytes, kept):
        await asyncio.sleep(0)
    return _finish(kept)


def read_history_now(transcript: TranscriptStorage, length: int, max_bytes: int) -> tuple[TranscriptEntry, ...]:
    """The same as :func:`read_history`, in one piece (an engine read ``turn.history`` before it was loaded)."""
    kept: list[TranscriptEntry] = []
    for _ in _collect(transcript, length, max_bytes, kept):
        pass
    return _finish(kept)


def _collect(transcript: TranscriptStorage, length: int, max_bytes: int, kept: list[TranscriptEntry]) -> Iterator[None]:
    """Fill ``kept`` newest first; yield after every page that did not end the history."""
    used = 0
    end = length  # the newest entry not read yet
    while end >= 1:
        start = max(1, end - PAGE_ENTRIES + 1)
        items, _next = transcript.entries(start=start, limit=end - start + 1)
        for entry in reversed(items):
            used += text_size(entry.content)
            if used > max_bytes:
                return
            kept.append(entry)
        end = start - 1
        if end >= 1:
            yield


def _finish(kept: list[TranscriptEntry]) -> tuple[TranscriptEntry, ...]:
    kept.reverse()
    first = 0
    while first < len(kept) and kept[first].role == TOOL_RESULT:
        first += 1  # its call was dropped (or the result would not be first)
    return tuple(kept[first:])
