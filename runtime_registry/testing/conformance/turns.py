"""Checks of what a turn leaves behind: its status, its events against the transcript, and its end under control.

These hold the rules a kind on its own most often gets wrong (issue 22 broke
a kind in 17 ways and the suite caught 5): a cancel, stop or delete in the
middle of a turn must end it for good — one ``worker.turn_cancelled`` with
the operation's reason, nothing of the turn afterwards; input answers and
worker status say ``busy`` while a turn runs; ``worker.input_accepted`` and
``worker.output`` name the transcript entry that holds their content;
``transcript_length`` is the transcript's; a delete frees a ``max_workers``
slot; an unknown profile is refused with ``unknown_profile`` or falls back
with a ``profile_fallback`` diagnostic.
"""

from __future__ import annotations

import asyncio

import pytest

from registry_core.errors import CapacityExceeded, RegistryError, UnknownProfile
from registry_core.event_contract import (
    WORKER_DELETED,
    WORKER_INPUT_ACCEPTED,
    WORKER_OUTPUT,
    WORKER_STOPPED,
    WORKER_TURN_CANCELLED,
    order_problems,
)
from registry_core.models import CreateWorkerRequest, Event, InputContent, InputRequest

from .contract import describe_error, require, succeeds
from .harness import CheckRun, ConformanceHarness, conformance_check

__all__ = ["TurnChecks"]

#: A profile name no kind has.
MISSING_PROFILE = "conformance-no-such-profile"
#: How many workers the max_workers check creates at most (a larger limit skips it).
MAX_WORKERS_CHECKED = 64
#: How long a worker's event feed may trail its status (a durable store's commit), in seconds.
FEED_GRACE_SECONDS = 1.0
#: How many problems a violation's message shows.
SHOWN = 5


class TurnChecks(ConformanceHarness):
    """A turn's status and events, and how cancel, stop and delete end it."""

    @conformance_check(needs=("send_input", "get_worker"), slow_turn=True)
    async def test_input_answers_and_status_say_busy_while_a_turn_runs(self, run: CheckRun) -> None:
        """The input's answer and `get_worker` say `busy` while a slow turn runs, and `idle` once it ended."""
        worker_id = await run.the_worker(run.slow_turn)
        accepted = await succeeds(
            "send_input", run.registry.send_input(run.runtime_id, worker_id, InputRequest(InputContent("conformance")))
        )
        require(
            accepted.status == "busy",
            f"the answer to an input that starts a slow turn must say status 'busy'; it says {accepted.status!r}",
        )
        status = (await succeeds("get_worker", run.registry.get_worker(run.runtime_id, worker_id))).status
        require(status == "busy", f"a worker must say status 'busy' while its turn runs; it says {status!r}")
        await run.settle(worker_id)
        status = (await succeeds("get_worker", run.registry.get_worker(run.runtime_id, worker_id))).status
        require(status == "idle", f"a worker whose turn ended must say status 'idle'; it says {status!r}")

    @conformance_check(needs=("send_input", "get_worker", "read_transcript"))
    async def test_transcript_length_is_the_transcripts(self, run: CheckRun) -> None:
        """A worker's `transcript_length` is the number of entries its transcript serves, after each turn."""
        worker_id = await run.the_worker()
        for text in ("conformance length one", "conformance length two"):
            await run.send_when_idle(worker_id, text)
            await run.settle(worker_id)
            worker = await succeeds("get_worker", run.registry.get_worker(run.runtime_id, worker_id))
            entries = await run.whole_transcript(worker_id, limit=100)
            require(
                worker.transcript_length == len(entries),
                f"transcript_length must be the number of transcript entries: it says {worker.transcript_length}, "
                f"the transcript holds {len(entries)}",
            )

    @conformance_check(needs=("send_input", "read_events", "read_transcript"), since="0.3")
    async def test_input_and_output_events_name_their_transcript_entries(self, run: CheckRun) -> None:
        """Each `worker.input_accepted` / `worker.output` names the entry announced by that very event, with its role
        and content."""
        worker_id = await run.the_worker()
        for text in ("conformance entry one", "conformance entry two"):
            await run.send_when_idle(worker_id, text)
            await run.settle(worker_id)
        entries = {entry.sequence: entry for entry in await run.whole_transcript(worker_id, limit=100)}
        problems = []
        announcing = [
            e for e in await run.all_events(worker_id=worker_id) if e.type in (WORKER_INPUT_ACCEPTED, WORKER_OUTPUT)
        ]
        for event in announcing:
            entry = entries.get(event.data.get("transcript_sequence"))  # type: ignore[arg-type]
            if entry is None:
                problems.append(f"event {event.id} ({event.type}) names no transcript entry")
                continue
            if entry.event_id != event.id:
                problems.append(
                    f"event {event.id} ({event.type}) names entry {entry.sequence}, which was announced by event "
                    f"{entry.event_id}"
                )
            if (event.data.get("role"), event.data.get("content")) != (entry.role, entry.content):
                problems.append(
                    f"event {event.id} ({event.type}) says {event.data.get('role')!r}: "
                    f"{str(event.data.get('content'))[:40]!r}; entry {entry.sequence} holds {entry.role!r}: "
                    f"{entry.content[:40]!r}"
                )
        require(announcing, "a worker that took input must have worker.input_accepted events")
        require(
            not problems,
            f"input and output events must name the transcript entry they announce: {'; '.join(problems[:SHOWN])}",
        )

    @conformance_check(needs=("send_input", "cancel_worker", "read_events"), slow_turn=True, since="0.3")
    async def test_a_cancelled_turn_ends_once_with_reason_cancel_and_takes_no_effect(self, run: CheckRun) -> None:
        """Cancel in the middle of a turn: one `worker.turn_cancelled` (reason `cancel`), and nothing of that turn
        afterwards (no reply, no second end), while the worker's next turn runs."""
        worker_id = await run.the_worker(run.slow_turn)
        await run.send_when_idle(worker_id, "conformance to cancel")
        await succeeds("cancel_worker during a turn", run.registry.cancel_worker(run.runtime_id, worker_id))
        await run.send_when_idle(worker_id, "conformance after cancel")
        await run.settle(worker_id)
        events = await events_once_turns_end(run, worker_id)
        require_ended_by(events, worker_id, "cancel")

    @conformance_check(needs=("send_input", "stop_worker", "read_events"), slow_turn=True, since="0.3")
    async def test_stop_in_the_middle_of_a_turn_ends_it_with_reason_stop(self, run: CheckRun) -> None:
        """Stop in the middle of a turn: `worker.turn_cancelled` (reason `stop`) before `worker.stopped`, and nothing of
        the turn afterwards."""
        worker_id = await run.the_worker(run.slow_turn)
        await run.send_when_idle(worker_id, "conformance to stop")
        await succeeds("stop_worker during a turn", run.registry.stop_worker(run.runtime_id, worker_id))
        await wait_out_a_slow_turn(run)
        events = await events_once_turns_end(run, worker_id)
        require_ended_by(events, worker_id, "stop")
        require(
            events and events[-1].type == WORKER_STOPPED,
            f"worker.stopped must be a stopped worker's last event; after it came {events[-1].type if events else None}",
        )

    @conformance_check(
        needs=("send_input", "delete_worker", "read_events", "create_worker"), slow_turn=True, since="0.3"
    )
    async def test_delete_in_the_middle_of_a_turn_ends_it_with_reason_delete_and_says_deleted(
        self, run: CheckRun
    ) -> None:
        """Delete in the middle of a turn: `worker.turn_cancelled` (reason `delete`), `worker.stopped`, then
        `worker.deleted` as the worker's last event."""
        worker_id = (await run.create_worker(run.slow_turn)).worker_id
        await run.send_when_idle(worker_id, "conformance to delete")
        await succeeds("delete_worker during a turn", run.registry.delete_worker(run.runtime_id, worker_id))
        await wait_out_a_slow_turn(run)
        events = await events_once_turns_end(run, worker_id, deleted=True)
        require_ended_by(events, worker_id, "delete")
        require(
            events and events[-1].type == WORKER_DELETED,
            f"worker.deleted must be a deleted worker's last event; the last is {events[-1].type if events else None}",
        )

    @conformance_check(needs=("create_worker", "delete_worker"))
    async def test_a_delete_frees_a_max_workers_slot(self, run: CheckRun) -> None:
        """With `max_workers` workers a create is `CapacityExceeded`; after a delete, a create succeeds."""
        limit = (await run.describe()).limits.max_workers
        if limit is None or limit > MAX_WORKERS_CHECKED:
            pytest.skip(f"the kind's max_workers is {limit} (the check fills at most {MAX_WORKERS_CHECKED})")
        created = []
        for _ in range(limit + 1):
            try:
                created.append(await run.registry.create_worker(run.runtime_id, CreateWorkerRequest()))
            except CapacityExceeded:
                break
            except RegistryError as exc:
                require(False, f"create_worker below max_workers must succeed; it raised {describe_error(exc)}")
        require(
            len(created) <= limit, f"max_workers is {limit}, yet {len(created)} creates succeeded in a fresh runtime"
        )
        require(created, "a fresh runtime with max_workers >= 1 must take one create")
        await succeeds("delete_worker", run.registry.delete_worker(run.runtime_id, created[0].worker_id))
        await succeeds(
            "create_worker after a delete at max_workers (a deleted worker frees its slot)",
            run.registry.create_worker(run.runtime_id, CreateWorkerRequest()),
        )

    @conformance_check(needs=("create_worker",))
    async def test_an_unknown_profile_is_refused_or_falls_back_with_a_diagnostic(self, run: CheckRun) -> None:
        """A create naming a profile the kind lacks is refused with `422 unknown_profile` (`UnknownProfile`), or succeeds with another profile and a `profile_fallback` diagnostic."""
        request = CreateWorkerRequest(profile=MISSING_PROFILE)
        try:
            worker = await run.registry.create_worker(run.runtime_id, request)
        except UnknownProfile:
            return  # refused, as the embedded kind does since 0.4
        except RegistryError as exc:
            require(
                False,
                f"create_worker(profile={MISSING_PROFILE!r}) must succeed with a fallback or raise UnknownProfile "
                f"(unknown_profile); it raised {describe_error(exc)}",
            )
            raise  # require raised; this line keeps type checkers sure `worker` is bound
        require(
            worker.profile != MISSING_PROFILE,
            f"a worker created with an unknown profile must say the profile it got; it says {worker.profile!r}",
        )
        codes = [diagnostic.code for diagnostic in worker.diagnostics]
        require(
            "profile_fallback" in codes,
            f"a create with an unknown profile that falls back must carry a profile_fallback diagnostic; "
            f"it carries {codes} (or refuse it with UnknownProfile)",
        )


def require_ended_by(events: list[Event], worker_id: str, reason: str) -> None:
    """The worker's events follow the contract's order, all turns over, and one turn ended cancelled for ``reason``."""
    problems = order_problems(events, finished=True)
    require(
        not problems,
        f"after a {reason} in the middle of a turn, worker {worker_id!r}'s events must keep the contract's order: "
        f"{'; '.join(problems[:SHOWN])}",
    )
    reasons = [event.data.get("reason") for event in events if event.type == WORKER_TURN_CANCELLED]
    require(
        reasons == [reason],
        f"a {reason} in the middle of a turn must end it with one worker.turn_cancelled of reason {reason!r}; "
        f"the worker's cancelled turns say {reasons}",
    )


async def events_once_turns_end(run: CheckRun, worker_id: str, *, deleted: bool = False) -> list[Event]:
    """The worker's events, read again for up to :data:`FEED_GRACE_SECONDS` while its last turn shows no end.

    A kind's event feed may trail the worker's status by a commit (a durable
    store writes events in batches), so a turn that just ended may not have
    its end event in the feed yet. A kind that never emits the end fails
    after the grace.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FEED_GRACE_SECONDS
    while True:
        if deleted:  # a deleted worker's own events cannot be asked for: read the runtime's
            events = [event for event in await run.all_events() if event.worker_id == worker_id]
        else:
            events = await run.all_events(worker_id=worker_id)
        if not order_problems(events, finished=True) or loop.time() > deadline:
            return events
        await asyncio.sleep(0.02)


async def wait_out_a_slow_turn(run: CheckRun) -> None:
    """Wait as long as a slow turn lasts, so a turn left running by mistake has time to show itself.

    A new slow worker's turn, started now, ends no sooner than one started before.
    """
    if not (run.capabilities.create_worker and run.capabilities.send_input):
        return
    try:
        worker = await run.registry.create_worker(run.runtime_id, run.slow_turn or CreateWorkerRequest())
    except CapacityExceeded:
        return
    await run.send_when_idle(worker.worker_id, "conformance clock")
    await run.settle(worker.worker_id)
