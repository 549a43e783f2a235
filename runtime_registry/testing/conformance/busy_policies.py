"""The busy policies a kind claims (``capabilities.busy_policies``; decision 0190): each does what it says.

A kind that claims only ``reject`` (every kind written before 0.4) passes
the policy checks by skipping them: the registry answers any other policy
with ``422`` without calling it (the host's tests hold that).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import pytest

from registry_core.event_contract import (
    WORKER_INPUT_ACCEPTED,
    WORKER_INPUT_DROPPED,
    WORKER_INPUT_QUEUED,
    WORKER_TURN_CANCELLED,
    order_problems,
)
from registry_core.models import BusyPolicy, InputAccepted, InputContent, InputRequest

from .contract import require, succeeds
from .harness import CheckRun, ConformanceHarness, conformance_check

__all__ = ["BusyPolicyChecks"]

#: How many interrupts race in the interrupt check.
RACING_INTERRUPTS = 5
#: The longest shown list of problems.
SHOWN = 3


def _claims(run: CheckRun, policy: str) -> None:
    if policy not in run.capabilities.busy_policies:
        pytest.skip(f"the kind does not claim the busy policy {policy!r}")


def _send(run: CheckRun, worker_id: str, content: str, policy: BusyPolicy) -> Awaitable[InputAccepted]:
    return run.registry.send_input(run.runtime_id, worker_id, InputRequest(InputContent(content), if_busy=policy))


class BusyPolicyChecks(ConformanceHarness):
    """``if_busy``: the policies claimed are known ones, and ``interrupt`` and ``enqueue`` work as documented."""

    @conformance_check(needs=("send_input",), since="0.3")
    async def test_busy_policies_are_known_and_include_reject(self, run: CheckRun) -> None:
        """`capabilities.busy_policies` lists `reject` and no policy but `reject`, `enqueue` and `interrupt`."""
        policies = run.capabilities.busy_policies
        known = {policy.value for policy in BusyPolicy}
        require("reject" in policies, f"busy_policies must list 'reject' (every kind's); it is {list(policies)}")
        unknown = [policy for policy in policies if policy not in known]
        require(not unknown, f"busy_policies lists policies the contract does not have: {unknown}")

    @conformance_check(needs=("send_input", "read_events"), slow_turn=True, since="0.3")
    async def test_interrupt_ends_the_running_turn_and_starts_its_own(self, run: CheckRun) -> None:
        """With `interrupt` claimed: racing interrupts of a busy worker are all accepted, each ends the turn before it
        with `worker.turn_cancelled` (reason `interrupt`), and turns never overlap."""
        _claims(run, "interrupt")
        worker_id = await run.the_worker(run.slow_turn)
        await run.send_when_idle(worker_id, "conformance to interrupt")
        results = await asyncio.gather(
            *(_send(run, worker_id, f"interrupt-{n}", BusyPolicy.INTERRUPT) for n in range(RACING_INTERRUPTS)),
            return_exceptions=True,
        )
        refused = [type(r).__name__ for r in results if isinstance(r, BaseException)]
        require(not refused, f"every interrupt of a busy worker must be accepted; refused: {refused}")
        events = await run.all_events(worker_id=worker_id)
        reasons = [event.data.get("reason") for event in events if event.type == WORKER_TURN_CANCELLED]
        require(
            reasons == ["interrupt"] * RACING_INTERRUPTS,
            f"{RACING_INTERRUPTS} interrupts must end {RACING_INTERRUPTS} turns with worker.turn_cancelled of reason "
            f"'interrupt'; the worker's cancelled turns say {reasons}",
        )
        problems = order_problems(events)
        require(not problems, f"interrupted turns must keep the contract's order: {'; '.join(problems[:SHOWN])}")

    @conformance_check(needs=("send_input", "read_events", "cancel_worker"), slow_turn=True, since="0.3")
    async def test_enqueued_input_waits_starts_in_order_and_cancel_drops_it(self, run: CheckRun) -> None:
        """With `enqueue` claimed: input to a busy worker answers `queued` with its place and a
        `worker.input_queued` event, is not in the transcript; a cancel keeping the queue starts the first
        (`worker.input_accepted` names its `queued_event_id`), a plain cancel drops the rest (`worker.input_dropped`)."""
        _claims(run, "enqueue")
        worker_id = await run.the_worker(run.slow_turn)
        await run.send_when_idle(worker_id, "conformance busy")
        queued: list[InputAccepted] = []
        for n in range(2):
            answer = await succeeds("an enqueued input", _send(run, worker_id, f"queued-{n}", BusyPolicy.ENQUEUE))
            queued.append(answer)
        places = [(a.status, a.queue_position, a.transcript_sequence) for a in queued]
        require(
            places == [("queued", 1, None), ("queued", 2, None)],
            f"two inputs enqueued behind a turn must answer status 'queued', places 1 and 2 and no transcript "
            f"sequence; they answered {places}",
        )
        events = await run.all_events(worker_id=worker_id)
        announced = [event.id for event in events if event.type == WORKER_INPUT_QUEUED]
        require(
            announced == [a.event_id for a in queued],
            f"each enqueued input's event_id must be its worker.input_queued event; events {announced}, answers "
            f"{[a.event_id for a in queued]}",
        )
        await succeeds(
            "cancel_worker keeping the queue", run.registry.cancel_worker(run.runtime_id, worker_id, queued="keep")
        )
        await succeeds("cancel_worker", run.registry.cancel_worker(run.runtime_id, worker_id))
        events = await run.all_events(worker_id=worker_id)
        started = [event.data.get("queued_event_id") for event in events if event.type == WORKER_INPUT_ACCEPTED]
        dropped = [event.data.get("queued_event_id") for event in events if event.type == WORKER_INPUT_DROPPED]
        require(
            started[1:] == [queued[0].event_id] and dropped == [queued[1].event_id],
            f"a cancel keeping the queue must start the first queued input and a plain cancel drop the second; "
            f"started from the queue {started[1:]}, dropped {dropped}",
        )
        problems = order_problems(events, finished=True)
        require(not problems, f"queued turns must keep the contract's order: {'; '.join(problems[:SHOWN])}")
