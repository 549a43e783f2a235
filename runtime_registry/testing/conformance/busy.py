"""The busy rule: while a turn runs, input is refused with ``WorkerBusy`` and never queued."""

from __future__ import annotations

import asyncio

from registry_core.errors import WorkerBusy
from registry_core.models import InputContent, InputRequest

from .contract import require
from .harness import CheckRun, ConformanceHarness, conformance_check

__all__ = ["BusyChecks"]


class BusyChecks(ConformanceHarness):
    """Concurrent input to one worker."""

    @conformance_check(slow_turn=True)
    async def test_input_while_busy_is_refused_and_not_queued(self, run: CheckRun) -> None:
        """Of ten concurrent inputs one is accepted, nine are `WorkerBusy`, none is queued."""
        worker_id = await run.the_worker(run.slow_turn)
        contents = [f"conformance-{i}" for i in range(10)]
        results = await asyncio.gather(
            *(
                run.registry.send_input(run.runtime_id, worker_id, InputRequest(InputContent(content)))
                for content in contents
            ),
            return_exceptions=True,
        )
        accepted = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, BaseException)]
        require(
            len(accepted) == 1,
            f"of ten concurrent inputs to one worker exactly one must be accepted; {len(accepted)} were",
        )
        wrong = [type(r).__name__ for r in refused if not isinstance(r, WorkerBusy)]
        require(not wrong, f"inputs refused while a turn runs must raise WorkerBusy; got {wrong}")
        if run.capabilities.read_transcript:
            await run.settle(worker_id)
            transcript = [e.content for e in await run.whole_transcript(worker_id, limit=100)]
            queued = [content for content in contents if content in transcript]
            require(len(queued) == 1, f"refused inputs must not be queued; the transcript holds {queued}")
