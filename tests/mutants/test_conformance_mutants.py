"""Mutation test of the conformance suite: the reference kind on the blocks passes; every mutant of it fails.

:class:`~tests.mutants.lifecycle_kind.LifecycleKind` (an ``EventLog`` and a
``WorkerLifecycle``) passes every check. :data:`MUTANTS` holds, for each
rule the suite claims to check (one check each), kinds broken in exactly that
way; each must fail its check with a :class:`ContractViolation` saying why.
A check without a mutant fails here, so a new check comes with its mutant.
The table of rules and mutants is the suite's documentation:
docs/reference/conformance-rules.md is generated from it
(``python -m tests.mutants.test_conformance_mutants > docs/reference/conformance-rules.md``)
and checked against it.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path

import attrs
import pytest

from registry_core import (
    CapacityExceeded,
    CreateWorkerRequest,
    EventPage,
    InputAccepted,
    InvalidRequest,
    RuntimeProvider,
    UnknownWorker,
    WorkerActionResult,
    WorkerPage,
)
from registry_core.blocks import EventLog, WorkerLifecycle
from registry_core.event_contract import WORKER_DELETED, WORKER_OUTPUT, WORKER_TURN_CANCELLED, WORKER_TURN_COMPLETED
from runtime_registry.testing import RuntimeConformance
from runtime_registry.testing.conformance import ContractViolation

from .lifecycle_kind import LifecycleKind

RULES_PAGE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "conformance-rules.md"


class LifecycleKindConformance(RuntimeConformance):
    """The suite pointed at :class:`LifecycleKind` or one of its mutants (``kind_type``)."""

    contract_version = "0.3"
    kind_type: type[LifecycleKind] = LifecycleKind

    def make_provider(self, runtime_id: str) -> RuntimeProvider:
        return self.kind_type(runtime_id)

    def slow_turn_request(self) -> CreateWorkerRequest:
        return CreateWorkerRequest(profile="slow")


class TestTheReferenceKindOnTheBlocksPassesEveryCheck(LifecycleKindConformance):
    """Every check runs and passes (the false-capability check skips: every capability is true)."""


# -- the mutants ----------------------------------------------------------------------------------
# Each docstring is the mutant's line in the rules page.


class ZeroPageMaximum(LifecycleKind):
    """Declares a page maximum of 0."""

    def __init__(self, runtime_id):
        super().__init__(runtime_id)
        self.limits = attrs.evolve(self.limits, worker_page_max=0)


class CancelDespiteFalseCapability(LifecycleKind):
    """Declares no cancel (the class lacks it) but cancels anyway."""

    cancel_worker = RuntimeProvider.cancel_worker

    def __init__(self, runtime_id):
        super().__init__(runtime_id)
        self.cancel_worker = self.workers.cancel_worker  # type: ignore[method-assign]


class TranscriptCrashes(LifecycleKind):
    """Has read_transcript, which raises NotImplementedError."""

    async def read_transcript(self, worker_id, *, start, limit):
        raise NotImplementedError


class IdsWithSlashes(LifecycleKind):
    """Answers a create with an id holding a slash."""

    async def create_worker(self, request):
        worker = await super().create_worker(request)
        return attrs.evolve(worker, worker_id=f"lr/{worker.worker_id}")


class ListingIgnoresLimit(LifecycleKind):
    """Lists one worker more than the limit asks."""

    async def list_workers(self, *, limit, cursor):
        return await super().list_workers(limit=limit + 1, cursor=cursor)


class FilterReadsOnePage(LifecycleKind):
    """Filters one plain page and says the list ends there."""

    async def filter_workers(self, worker_filter, *, limit, cursor):
        page = await self.list_workers(limit=limit, cursor=cursor)
        return attrs.evolve(page, items=tuple(filter(worker_filter.matches, page.items)), next_cursor=None)


class UnknownWorkerIsAKeyError(LifecycleKind):
    """Lets a KeyError out for an unknown worker."""

    async def get_worker(self, worker_id):
        if worker_id not in self.workers.roster:
            raise KeyError(worker_id)
        return await super().get_worker(worker_id)


#: Lifecycles shared by every instance: the module-level-dict bug.
SHARED: dict[str, WorkerLifecycle] = {}


class SharesWorkersAcrossRuntimes(LifecycleKind):
    """Keeps its workers in one module-level lifecycle shared by every runtime."""

    def __init__(self, runtime_id):
        super().__init__(runtime_id)
        self.workers = SHARED.setdefault("workers", self.workers)

    async def close(self):
        SHARED.clear()
        await super().close()


class TranscriptIgnoresLimit(LifecycleKind):
    """Serves one transcript entry more than the limit asks."""

    async def read_transcript(self, worker_id, *, start, limit):
        return await super().read_transcript(worker_id, start=start, limit=limit + 1)


class AcceptedSequenceOffByOne(LifecycleKind):
    """Answers an input with the next entry's sequence."""

    async def send_input(self, worker_id, request):
        accepted = await super().send_input(worker_id, request)
        return attrs.evolve(accepted, transcript_sequence=accepted.transcript_sequence + 1)


class CursorIgnored(LifecycleKind):
    """Reads events from the oldest whatever the cursor."""

    async def read_events(self, *, cursor, limit, worker_id=None):
        return await super().read_events(cursor=None, limit=limit, worker_id=worker_id)


class WorkerFilterIgnored(LifecycleKind):
    """Gives every worker's events when one worker's are asked for."""

    async def read_events(self, *, cursor, limit, worker_id=None):
        if worker_id is not None:
            self.workers.model(worker_id)
        return await super().read_events(cursor=cursor, limit=limit)


class FutureCursorAnswered(LifecycleKind):
    """Answers a cursor newer than any event with an empty page."""

    async def read_events(self, *, cursor, limit, worker_id=None):
        if cursor is not None and cursor > self.events.last_id:
            return EventPage(self.runtime_id, (), cursor, False)
        return await super().read_events(cursor=cursor, limit=limit, worker_id=worker_id)


class NeverReportsEvents(LifecycleKind):
    """Waits and answers that nothing arrived."""

    async def wait_for_events(self, *, cursor, timeout):
        await asyncio.sleep(min(timeout, 0.01))
        return False


class WaitIgnoresClose(LifecycleKind):
    """Keeps waiters waiting after close."""

    async def wait_for_events(self, *, cursor, timeout):
        await asyncio.sleep(timeout)
        return self.events.last_id > cursor

    async def close(self):
        pass


class TurnStartedWithoutItsNumber(LifecycleKind):
    """Emits worker.turn_started without its turn number."""

    def __init__(self, runtime_id):
        super().__init__(runtime_id)
        append = self.events.append

        def without_turn(type_, worker_id, data, **options):
            if type_ == "worker.turn_started":
                data = {}
            return append(type_, worker_id, data, **options)

        self.events.append = without_turn  # type: ignore[method-assign]


class CompletesTurnsTwice(LifecycleKind):
    """Emits worker.turn_completed twice for every turn."""

    def __init__(self, runtime_id):
        super().__init__(runtime_id)
        append = self.events.append

        def twice(type_, worker_id, data, **options):
            event = append(type_, worker_id, data, **options)
            if type_ == "worker.turn_completed":
                event = append(type_, worker_id, data, **options)
            return event

        self.events.append = twice  # type: ignore[method-assign]


class CursorZeroSkipsTheFirstEvent(LifecycleKind):
    """Reads cursor=0 as the first event's id, so it skips that event."""

    async def read_events(self, *, cursor, limit, worker_id=None):
        return await super().read_events(
            cursor=self.events.start_id if cursor == 0 else cursor, limit=limit, worker_id=worker_id
        )


class RestartsIdsAtOne(LifecycleKind):
    """Numbers every run's events from 1."""

    def __init__(self, runtime_id):
        super().__init__(runtime_id)
        self.events = self.workers.events = EventLog(10_000, start_id=1)


class QueueingLifecycle(WorkerLifecycle):
    async def send_input(self, worker_id, request):
        worker = self._get(worker_id)
        if worker.task is not None:
            entry, event = self._record(worker_id, worker, "worker.input_accepted", "user", request.content)
            return InputAccepted(self.runtime_id, worker_id, entry.sequence, event.id, "busy")
        return await super().send_input(worker_id, request)


class QueuesInput(LifecycleKind):
    """Takes input while a turn runs (queues it)."""

    lifecycle_type = QueueingLifecycle


class CancelNeverEndsLifecycle(WorkerLifecycle):
    async def cancel_worker(self, worker_id):
        worker = self._get(worker_id)
        if worker.stopped:
            return await super().cancel_worker(worker_id)
        return WorkerActionResult(self.runtime_id, worker_id, "cancel", worker.task is not None, worker.status)


class CancelLeavesTheTurnRunning(LifecycleKind):
    """Answers a cancel (changed=true) and leaves the turn running."""

    lifecycle_type = CancelNeverEndsLifecycle


class IdleCancelClaimsAChange(LifecycleKind):
    """Answers changed=true to a cancel with no turn."""

    async def cancel_worker(self, worker_id):
        return attrs.evolve(await super().cancel_worker(worker_id), changed=True)


class StopIsNotIdempotent(LifecycleKind):
    """Answers changed=true to every stop."""

    async def stop_worker(self, worker_id):
        return attrs.evolve(await super().stop_worker(worker_id), changed=True)


class DeleteOnlyStops(LifecycleKind):
    """Deletes by stopping: the worker stays."""

    async def delete_worker(self, worker_id):
        await self.workers.stop_worker(worker_id)
        return WorkerActionResult(self.runtime_id, worker_id, "delete", True, "stopped")


class AnswersIdleToInput(LifecycleKind):
    """Answers every input with status idle."""

    async def send_input(self, worker_id, request):
        return attrs.evolve(await super().send_input(worker_id, request), status="idle")


class NeverSaysBusy(LifecycleKind):
    """Never says busy: a worker in a turn says idle."""

    async def get_worker(self, worker_id):
        worker = await super().get_worker(worker_id)
        return attrs.evolve(worker, status="idle") if worker.status == "busy" else worker


class TranscriptLengthOffByOne(LifecycleKind):
    """Says transcript_length one more than the transcript holds."""

    async def get_worker(self, worker_id):
        worker = await super().get_worker(worker_id)
        return attrs.evolve(worker, transcript_length=worker.transcript_length + 1)


class OutputNamesTheWrongEntry(LifecycleKind):
    """worker.output names the entry before its own."""

    def __init__(self, runtime_id):
        super().__init__(runtime_id)
        append = self.events.append

        def misnamed(type_, worker_id, data, **options):
            if type_ == "worker.output":
                data = {**data, "transcript_sequence": data["transcript_sequence"] - 1}
            return append(type_, worker_id, data, **options)

        self.events.append = misnamed  # type: ignore[method-assign]


class InputEventContentDiffers(LifecycleKind):
    """worker.input_accepted quotes the input trimmed, the transcript holds it whole."""

    def __init__(self, runtime_id):
        super().__init__(runtime_id)
        append = self.events.append

        def trimmed(type_, worker_id, data, **options):
            if type_ == "worker.input_accepted":
                data = {**data, "content": data["content"][:-1]}
            return append(type_, worker_id, data, **options)

        self.events.append = trimmed  # type: ignore[method-assign]


class SilentCancelLifecycle(WorkerLifecycle):
    async def _end_turn(self, worker_id, worker, reason):
        task = worker.task
        if task is None:
            return False
        worker.task = None
        task.cancel()
        return True


class CancelEmitsNoTurnCancelled(LifecycleKind):
    """Cancels the turn without worker.turn_cancelled."""

    lifecycle_type = SilentCancelLifecycle


class CancelledTurnTakesEffectLifecycle(WorkerLifecycle):
    async def _end_turn(self, worker_id, worker, reason):
        if worker.task is None:
            return False
        worker.task = None  # the worker says idle and the turn says cancelled ...
        self.events.append(WORKER_TURN_CANCELLED, worker_id, {"turn": worker.turns, "reason": reason})
        return True  # ... but its task is never cancelled

    async def _run(self, worker_id, worker, turn):
        reply = await self.turn(turn)
        if worker.task is asyncio.current_task():
            worker.task = None
        self._record(worker_id, worker, WORKER_OUTPUT, "assistant", reply)
        self.events.append(WORKER_TURN_COMPLETED, worker_id, {"turn": turn.turn})


class CancelledTurnTakesEffect(LifecycleKind):
    """Says the turn was cancelled, but the turn runs on and replies (a second end)."""

    lifecycle_type = CancelledTurnTakesEffectLifecycle


class StopLeavesTheTurnRunning(LifecycleKind):
    """Stops the worker but leaves its turn running (turn_completed after worker.stopped)."""

    lifecycle_type = CancelledTurnTakesEffectLifecycle


class AlwaysCancelLifecycle(WorkerLifecycle):
    async def _end_turn(self, worker_id, worker, reason):
        return await super()._end_turn(worker_id, worker, "cancel")


class CancelReasonAlwaysCancel(LifecycleKind):
    """Says reason cancel whatever ended the turn (stop, delete, shutdown)."""

    lifecycle_type = AlwaysCancelLifecycle


class NoDeletedEventLifecycle(WorkerLifecycle):
    async def delete_worker(self, worker_id):
        append = self.events.append
        self.events.append = lambda t, w, d, **o: None if t == WORKER_DELETED else append(t, w, d, **o)  # type: ignore[method-assign]
        try:
            return await super().delete_worker(worker_id)
        finally:
            self.events.append = append  # type: ignore[method-assign]


class DeleteWithoutWorkerDeleted(LifecycleKind):
    """Deletes without worker.deleted."""

    lifecycle_type = NoDeletedEventLifecycle


class SlotKeepingLifecycle(WorkerLifecycle):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.deleted = 0

    async def delete_worker(self, worker_id):
        self.deleted += 1
        return await super().delete_worker(worker_id)

    async def create_worker(self, request):
        if self.max_workers is not None and len(self.roster) + self.deleted >= self.max_workers:
            raise CapacityExceeded("full")
        return await super().create_worker(request)


class DeleteKeepsItsSlot(LifecycleKind):
    """A deleted worker still counts against max_workers."""

    lifecycle_type = SlotKeepingLifecycle


class FallsBackSilently(LifecycleKind):
    """Falls back from an unknown profile without the profile_fallback diagnostic."""

    async def create_worker(self, request):
        return attrs.evolve(await super().create_worker(request), diagnostics=())


class RefusesWithTheWrongCode(LifecycleKind):
    """Refuses an unknown profile with invalid_request instead of unknown_profile."""

    async def create_worker(self, request):
        if request.profile not in (None, *self.workers.profiles):
            raise InvalidRequest("no such profile", details=({"path": "profile", "message": "unknown"},))
        return await super().create_worker(request)


class RefusesUnknownProfiles(LifecycleKind):
    """Not a mutant: refuses an unknown profile with unknown_profile, as the embedded kind does (passes the check)."""

    def __init__(self, runtime_id):
        super().__init__(runtime_id)
        self.workers.unknown_profile = "refuse"


class EventDataIsNotJson(LifecycleKind):
    """Puts an object that is not JSON in worker.created data."""

    def __init__(self, runtime_id):
        super().__init__(runtime_id)
        append = self.events.append
        self.events.append = lambda t, w, d, **o: append(t, w, {**d, "handle": object()}, **o)  # type: ignore[method-assign]


class LabelsWithSockets(LifecycleKind):
    """Shows a socket path as every worker's label."""

    async def get_worker(self, worker_id):
        return attrs.evolve(await super().get_worker(worker_id), label="/run/lifecycle/w.sock")

    async def list_workers(self, *, limit, cursor):
        page = await super().list_workers(limit=limit, cursor=cursor)
        return WorkerPage(
            page.runtime_id, tuple(attrs.evolve(w, label="/run/lifecycle/w.sock") for w in page.items), page.next_cursor
        )

    async def create_worker(self, request):
        return attrs.evolve(await super().create_worker(request), label="/run/lifecycle/w.sock")


class UnknownWorkerMessageLeaksAPath(LifecycleKind):
    """Names a file path in the UnknownWorker message."""

    async def get_worker(self, worker_id):
        if worker_id not in self.workers.roster:
            raise UnknownWorker(f"no file /var/lib/lifecycle/{worker_id}.json")
        return await super().get_worker(worker_id)


class ClaimsAnUnknownPolicy(LifecycleKind):
    """Lists a busy policy the contract does not have."""

    busy_policies = ("reject", "later")


class ClaimsInterruptButRejects(LifecycleKind):
    """Claims the interrupt busy policy but refuses an interrupt while a turn runs."""

    busy_policies = ("reject", "interrupt")


class ClaimsEnqueueButRejects(LifecycleKind):
    """Claims the enqueue busy policy but refuses an input while a turn runs."""

    busy_policies = ("reject", "enqueue")


@dataclass(frozen=True)
class Mutant:
    """One broken kind, the check that must catch it, and words its violation must contain."""

    kind: type[LifecycleKind]
    check: str
    says: str


#: Every rule the suite checks (by check) with the mutants that break it.
MUTANTS = [
    Mutant(ZeroPageMaximum, "test_summary_has_the_contract_shape", "worker_page_max must be a positive integer"),
    Mutant(
        CancelDespiteFalseCapability, "test_false_capabilities_answer_unsupported", "must raise UnsupportedOperation"
    ),
    Mutant(TranscriptCrashes, "test_true_capabilities_work", "read_transcript (capability true) must succeed"),
    Mutant(IdsWithSlashes, "test_created_workers_have_valid_opaque_ids", ""),
    Mutant(ListingIgnoresLimit, "test_listed_workers_are_valid_unique_and_complete", "returned 3 workers"),
    Mutant(FilterReadsOnePage, "test_filtered_lists_are_exactly_the_matching_workers", "the matching workers are"),
    Mutant(UnknownWorkerIsAKeyError, "test_unknown_worker_is_a_typed_error", "must raise UnknownWorker"),
    Mutant(UnknownWorkerMessageLeaksAPath, "test_unknown_worker_is_a_typed_error", "looks like a path"),
    Mutant(SharesWorkersAcrossRuntimes, "test_a_worker_is_unknown_in_another_runtime", ""),
    Mutant(TranscriptIgnoresLimit, "test_transcript_pages_are_gapless_and_bounded", ""),
    Mutant(AcceptedSequenceOffByOne, "test_accepted_input_is_in_the_transcript_where_it_says", ""),
    Mutant(CursorIgnored, "test_event_ids_increase_and_cursors_are_honoured", ""),
    Mutant(WorkerFilterIgnored, "test_a_workers_events_are_its_own", ""),
    Mutant(FutureCursorAnswered, "test_a_cursor_newer_than_any_event_is_expired", "must raise CursorExpired"),
    Mutant(NeverReportsEvents, "test_waiting_for_events_follows_the_cursor", "must answer True"),
    Mutant(WaitIgnoresClose, "test_close_wakes_event_waiters", "must return promptly after close()"),
    Mutant(TurnStartedWithoutItsNumber, "test_event_data_follows_the_event_contract", "required field 'turn'"),
    Mutant(EventDataIsNotJson, "test_everything_returned_becomes_json", "cannot become JSON"),
    Mutant(CompletesTurnsTwice, "test_a_turns_events_come_in_the_contracts_order", "comes outside any turn"),
    Mutant(
        CursorZeroSkipsTheFirstEvent,
        "test_cursor_zero_means_before_the_first_event",
        "must start at the runtime's first event",
    ),
    Mutant(RestartsIdsAtOne, "test_event_ids_are_not_reused_across_restarts", "after a restart"),
    Mutant(QueuesInput, "test_input_while_busy_is_refused_and_not_queued", "exactly one must be accepted"),
    Mutant(ClaimsAnUnknownPolicy, "test_busy_policies_are_known_and_include_reject", "'later'"),
    Mutant(
        ClaimsInterruptButRejects,
        "test_interrupt_ends_the_running_turn_and_starts_its_own",
        "every interrupt of a busy worker must be accepted",
    ),
    Mutant(
        ClaimsEnqueueButRejects, "test_enqueued_input_waits_starts_in_order_and_cancel_drops_it", "an enqueued input"
    ),
    Mutant(
        CancelLeavesTheTurnRunning, "test_cancel_ends_the_turn_and_keeps_the_worker", "send_input right after cancel"
    ),
    Mutant(IdleCancelClaimsAChange, "test_cancel_while_idle_changes_nothing", "changed=false"),
    Mutant(StopIsNotIdempotent, "test_stop_is_final_and_idempotent", "a second stop must answer changed=false"),
    Mutant(DeleteOnlyStops, "test_a_deleted_worker_is_gone_for_good", "of a deleted worker must raise UnknownWorker"),
    Mutant(AnswersIdleToInput, "test_input_answers_and_status_say_busy_while_a_turn_runs", "it says 'idle'"),
    Mutant(
        NeverSaysBusy, "test_input_answers_and_status_say_busy_while_a_turn_runs", "a worker must say status 'busy'"
    ),
    Mutant(TranscriptLengthOffByOne, "test_transcript_length_is_the_transcripts", "transcript_length must be"),
    Mutant(
        OutputNamesTheWrongEntry, "test_input_and_output_events_name_their_transcript_entries", "announced by event"
    ),
    Mutant(InputEventContentDiffers, "test_input_and_output_events_name_their_transcript_entries", "holds 'user'"),
    Mutant(
        CancelEmitsNoTurnCancelled,
        "test_a_cancelled_turn_ends_once_with_reason_cancel_and_takes_no_effect",
        "after a cancel",
    ),
    Mutant(
        CancelledTurnTakesEffect,
        "test_a_cancelled_turn_ends_once_with_reason_cancel_and_takes_no_effect",
        "after a cancel",
    ),
    Mutant(StopLeavesTheTurnRunning, "test_stop_in_the_middle_of_a_turn_ends_it_with_reason_stop", "after a stop"),
    Mutant(CancelReasonAlwaysCancel, "test_stop_in_the_middle_of_a_turn_ends_it_with_reason_stop", "of reason 'stop'"),
    Mutant(
        CancelReasonAlwaysCancel,
        "test_delete_in_the_middle_of_a_turn_ends_it_with_reason_delete_and_says_deleted",
        "of reason 'delete'",
    ),
    Mutant(
        DeleteWithoutWorkerDeleted,
        "test_delete_in_the_middle_of_a_turn_ends_it_with_reason_delete_and_says_deleted",
        "worker.deleted",
    ),
    Mutant(DeleteKeepsItsSlot, "test_a_delete_frees_a_max_workers_slot", "a deleted worker frees its slot"),
    Mutant(
        FallsBackSilently,
        "test_an_unknown_profile_is_refused_or_falls_back_with_a_diagnostic",
        "profile_fallback diagnostic",
    ),
    Mutant(
        RefusesWithTheWrongCode,
        "test_an_unknown_profile_is_refused_or_falls_back_with_a_diagnostic",
        "raise UnknownProfile",
    ),
    Mutant(LabelsWithSockets, "test_nothing_returned_looks_like_a_path", "must not contain paths"),
]


def test_every_check_of_the_suite_has_a_mutant_and_every_mutant_names_a_check():
    checks = RuntimeConformance.check_names()
    assert sorted(set(checks) - {mutant.check for mutant in MUTANTS}) == []
    assert sorted({mutant.check for mutant in MUTANTS} - set(checks)) == []


@pytest.mark.parametrize("mutant", MUTANTS, ids=[f"{m.kind.__name__}-{m.check[5:]}" for m in MUTANTS])
def test_the_suite_kills_the_mutant(mutant):
    suite = LifecycleKindConformance()
    suite.kind_type = mutant.kind  # type: ignore[assignment]
    suite.close_grace_seconds = 0.3
    SHARED.clear()
    try:
        getattr(suite, mutant.check)()
    except ContractViolation as exc:
        assert mutant.says in str(exc), str(exc)
        return
    except BaseException as exc:  # a skip or an unrelated error is a mutant that survived
        pytest.fail(f"{mutant.check} ended with {type(exc).__name__} ({exc}) instead of a ContractViolation")
    pytest.fail(f"{mutant.check} passed {mutant.kind.__name__}: the suite does not check what it claims")


def test_a_kind_that_refuses_unknown_profiles_passes_the_profile_check():
    suite = LifecycleKindConformance()
    suite.kind_type = RefusesUnknownProfiles  # type: ignore[assignment]
    SHARED.clear()
    suite.test_an_unknown_profile_is_refused_or_falls_back_with_a_diagnostic()


def rules_page() -> str:
    """docs/reference/conformance-rules.md: every check, the contract that added it, its rule, its mutants."""
    lines = [
        "# Conformance rules and the mutants that prove them",
        "",
        "Generated by `python -m tests.mutants.test_conformance_mutants` from the suite",
        "(`runtime_registry.testing.RuntimeConformance`) and its mutation test",
        "(`tests/mutants/`): a reference kind on the blocks (`EventLog`,",
        "`WorkerLifecycle`) passes every check, and each mutant below — that kind",
        "broken in one way — fails the check of its row. A test fails when this",
        "page is out of date or a check has no mutant.",
        "",
        "`since` is the contract version that added the rule: a kind whose conformance",
        "class declares an older `contract_version` gets a `NewerContractWarning`",
        "instead of a failure (decision 0162).",
        "",
        "| check | since | rule | mutants it kills |",
        "|---|---|---|---|",
    ]
    for check in RuntimeConformance.check_names():
        method = getattr(RuntimeConformance, check)
        rule = " ".join((inspect.getdoc(method) or "").split())
        killed = "; ".join(
            f"`{m.kind.__name__}`: {' '.join((m.kind.__doc__ or '').split())}" for m in MUTANTS if m.check == check
        )
        lines.append(f"| `{check}` | {method.__conformance_check__.since} | {rule} | {killed} |")
    return "\n".join(lines) + "\n"


def test_the_rules_page_is_generated_from_the_suite_and_its_mutants():
    assert RULES_PAGE.read_text() == rules_page(), (
        "regenerate: python -m tests.mutants.test_conformance_mutants > docs/reference/conformance-rules.md"
    )


if __name__ == "__main__":
    sys.stdout.write(rules_page())
