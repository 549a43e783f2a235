"""Checks of transcripts: gapless, bounded pages, and accepted input found where the runtime says it is."""

from __future__ import annotations

from .contract import require, succeeds
from .harness import CheckRun, ConformanceHarness, conformance_check

__all__ = ["TranscriptChecks"]


class TranscriptChecks(ConformanceHarness):
    """Transcript paging, and the promise of ``InputAccepted``."""

    @conformance_check(needs=("read_transcript",))
    async def test_transcript_pages_are_gapless_and_bounded(self, run: CheckRun) -> None:
        """Sequences from `start` without gaps, `limit` respected, `total` and `next_start` right, small and large pages
        agree."""
        worker_id = await run.the_worker()
        if run.capabilities.send_input:
            for content in ("first", "second"):
                await run.send_when_idle(worker_id, content)
            await run.settle(worker_id)
        entries = await run.whole_transcript(worker_id, limit=1)
        if run.capabilities.send_input:
            require(len(entries) >= 2, f"after two inputs the transcript has {len(entries)} entries")
        page_max = (await run.describe()).limits.transcript_page_max
        whole = await run.whole_transcript(worker_id, limit=min(page_max, 1000))
        require(
            [(e.sequence, e.content) for e in whole] == [(e.sequence, e.content) for e in entries],
            "reading the transcript one entry at a time and in large pages gave different entries",
        )
        total = len(entries)
        beyond = await succeeds(
            "read_transcript past the end",
            run.registry.read_transcript(run.runtime_id, worker_id, start=total + 5, limit=1),
        )
        require(
            beyond.items == () and beyond.next_start is None and beyond.total == total,
            f"a page past the end must be empty with next_start None and total {total}; got "
            f"{len(beyond.items)} items, next_start {beyond.next_start}, total {beyond.total}",
        )

    @conformance_check(needs=("send_input", "read_transcript"))
    async def test_accepted_input_is_in_the_transcript_where_it_says(self, run: CheckRun) -> None:
        """`InputAccepted.transcript_sequence` is the entry holding the input; its `event_id` is the worker's event."""
        worker_id = await run.the_worker()
        content = "conformance: accepted input is never lost"
        accepted = await run.send_when_idle(worker_id, content)
        sequence = accepted.transcript_sequence
        require(
            sequence is not None and accepted.status != "queued",
            f"input to an idle worker must be in the transcript at once; it answered status {accepted.status!r} "
            f"and transcript_sequence {sequence!r}",
        )
        page = await succeeds(
            "read_transcript", run.registry.read_transcript(run.runtime_id, worker_id, start=sequence or 1, limit=1)
        )
        require(
            page.items and page.items[0].sequence == accepted.transcript_sequence and page.items[0].content == content,
            f"InputAccepted says the input is entry {accepted.transcript_sequence}; that entry is "
            f"{page.items[0] if page.items else None!r}",
        )
        if run.capabilities.read_events:
            events = await run.all_events(worker_id=worker_id)
            require(
                any(event.id == accepted.event_id for event in events),
                f"InputAccepted.event_id {accepted.event_id} is not an event of this worker",
            )
