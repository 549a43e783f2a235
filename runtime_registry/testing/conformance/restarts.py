"""The restart check: a new provider for the same runtime never hands out an event id a client could already hold."""

from __future__ import annotations

import pytest

from registry_core.errors import CursorExpired, RegistryError

from .contract import ContractViolation, describe_error, require
from .harness import CheckRun, ConformanceHarness, conformance_check

__all__ = ["MAX_RESTART_ACTIONS", "RESTART_PAUSE_SECONDS", "RestartChecks"]

#: How long the restart check waits between two runs: a first id taken from
#: a microsecond clock must not be able to repeat the earlier run's.
RESTART_PAUSE_SECONDS = 0.005
#: The most actions the restart check takes in the new run to reach the old cursor.
MAX_RESTART_ACTIONS = 50


class RestartChecks(ConformanceHarness):
    """Event ids across a restart of the runtime (decision 0055)."""

    @conformance_check(needs=("read_events",))
    async def test_event_ids_are_not_reused_across_restarts(self, run: CheckRun) -> None:
        """A new provider for the same runtime (a restart) never hands out an id a client could already hold: the first
        run's last cursor is `CursorExpired`, or it returns every event of the new run."""
        if not (run.capabilities.create_worker or run.capabilities.send_input):
            pytest.skip("the kind can neither create workers nor take input, so the check cannot make it issue events")
        # The first run: one action, and the cursor a client holds at the end of it.
        await run.issue_events()
        first_run = [event.id for event in await run.all_events()]
        if not first_run:
            pytest.skip("creating a worker or sending input issued no event to resume from")
        old_cursor = first_run[-1]
        # A clock-based first id needs the clock to move on between runs.
        async with run.restarted(pause=RESTART_PAUSE_SECONDS) as restarted:
            before = await restarted.latest_cursor()
            # Enough actions for a kind that restarts its count to reach the old cursor again.
            for _ in range(min(len(first_run) + 1, MAX_RESTART_ACTIONS)):
                if not await restarted.issue_events():
                    break
                if await restarted.latest_cursor() >= old_cursor:
                    break
            issued = [event.id for event in await restarted.all_events() if event.id > before]
            require(issued, "the restarted runtime issued no event for the action that issued one before the restart")
            where = f"read_events(cursor={old_cursor}) after a restart (the newest id before it)"
            try:
                resumed = await restarted.event_ids_after(old_cursor)
            except CursorExpired:
                return  # the client is told it missed something: never a silent skip
            except RegistryError as exc:
                raise ContractViolation(
                    f"{where} must raise CursorExpired or succeed; it raised {describe_error(exc)}"
                ) from exc
            missed = [event_id for event_id in issued if event_id not in resumed]
            require(
                not missed,
                f"{where} must raise CursorExpired or return every event the new run issued; it skipped ids "
                f"{missed[:10]} (the first run issued up to {old_cursor}, the new run {issued[:10]}): event ids must "
                f"never be reused across restarts (start each run above the last, e.g. at the clock in microseconds)",
            )
