"""Every conformance check catches the breach it exists for.

Each provider here is the reference provider (which passes the whole suite)
with exactly one rule broken; each test runs the one check that guards that
rule and asserts it fails with a :class:`ContractViolation` naming the rule —
not a skip, not a pass, not an unrelated error.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time

import attrs
import pytest

from registry_core import (
    CreateWorkerRequest,
    CursorExpired,
    Diagnostic,
    EventPage,
    InputAccepted,
    InputRequest,
    InvalidRequest,
    RuntimeLimits,
    RuntimeProvider,
    RuntimeState,
    RuntimeStatus,
    TranscriptPage,
    UnknownWorker,
    UnsupportedOperation,
    Worker,
    WorkerActionResult,
    WorkerPage,
)
from runtime_registry.testing.conformance import ContractViolation

from .test_conformance_reference import (
    ReferenceConformance,
    ReferenceProvider,
    ReferenceWorker,
    TakesInputButCannotCreate,
)


def violation(provider_type: type[RuntimeProvider], check: str) -> str:
    """Run one check against ``provider_type``; return the violation's message (fail if there is none)."""
    suite = ReferenceConformance()
    suite.provider_type = provider_type  # type: ignore[assignment]
    suite.close_grace_seconds = 0.3
    try:
        getattr(suite, check)()
    except ContractViolation as exc:
        return str(exc)
    except BaseException as exc:  # a skip or an unrelated error hides the breach: that is a failure too
        pytest.fail(f"{check} ended with {type(exc).__name__} ({exc}) instead of a ContractViolation")
    pytest.fail(f"{check} passed a provider that breaks its rule")


# -- summary and start -------------------------------------------------------------------


class ZeroPageMaximum(ReferenceProvider):
    limits = RuntimeLimits(worker_page_max=0)


def test_a_page_maximum_below_one_is_caught():
    assert "limits.worker_page_max must be a positive integer" in violation(
        ZeroPageMaximum, "test_summary_has_the_contract_shape"
    )


class FailsToStart(ReferenceProvider):
    async def start(self) -> None:
        raise ConnectionError("backend unreachable")


def test_a_provider_that_cannot_start_is_caught():
    message = violation(FailsToStart, "test_summary_has_the_contract_shape")
    assert "must start and describe itself as running or degraded; it is unavailable" in message


class ReportsStopped(ReferenceProvider):
    async def describe(self) -> RuntimeState:
        return RuntimeState(RuntimeStatus.STOPPED)


def test_a_started_runtime_describing_itself_stopped_is_caught():
    assert "it is stopped" in violation(ReportsStopped, "test_summary_has_the_contract_shape")


# -- capabilities ---------------------------------------------------------------------------


class AnswersCancelDespiteFalseCapability(ReferenceProvider):
    """Capabilities come from the class; assigning the method per instance makes them lie."""

    cancel_worker = RuntimeProvider.cancel_worker

    def __init__(self, runtime_id: str) -> None:
        super().__init__(runtime_id)
        self.cancel_worker = self._cancel  # type: ignore[method-assign]

    async def _cancel(self, worker_id: str) -> WorkerActionResult:
        return WorkerActionResult(self.runtime_id, worker_id, "cancel", False, "idle")


def test_an_operation_that_works_although_its_capability_is_false_is_caught():
    message = violation(AnswersCancelDespiteFalseCapability, "test_false_capabilities_answer_unsupported")
    assert "cancel_worker (its capability is false) must raise UnsupportedOperation" in message


class CancelNotReallySupported(ReferenceProvider):
    async def cancel_worker(self, worker_id: str) -> WorkerActionResult:
        raise UnsupportedOperation("not yet")


def test_a_true_capability_answering_unsupported_is_caught():
    message = violation(CancelNotReallySupported, "test_true_capabilities_work")
    assert "cancel_worker (capability true) must succeed; it raised UnsupportedOperation" in message


class TranscriptCrashes(ReferenceProvider):
    async def read_transcript(self, worker_id: str, *, start: int, limit: int) -> TranscriptPage:
        raise NotImplementedError


def test_a_true_capability_that_crashes_is_caught_and_pointed_at_the_log():
    message = violation(TranscriptCrashes, "test_true_capabilities_work")
    assert "read_transcript (capability true) must succeed; it raised RuntimeUnavailable" in message
    assert "the log says which" in message


# -- worker ids and routing -------------------------------------------------------------------


class IdsWithSlashes(ReferenceProvider):
    def new_worker_id(self, request: CreateWorkerRequest) -> str:
        return f"ref/{next(self.ids)}"


def test_an_invalid_worker_id_is_caught():
    assert "breaks the id rules" in violation(IdsWithSlashes, "test_created_workers_have_valid_opaque_ids")


class IdsFromLabels(ReferenceProvider):
    def new_worker_id(self, request: CreateWorkerRequest) -> str:
        return request.label or f"ref-{next(self.ids)}"


def test_a_worker_id_taken_from_the_label_is_caught():
    assert "generated by the runtime, not taken from the label" in violation(
        IdsFromLabels, "test_created_workers_have_valid_opaque_ids"
    )


class RepeatsIds(ReferenceProvider):
    def new_worker_id(self, request: CreateWorkerRequest) -> str:
        return f"ref-{len(self.workers) % 2}-{request.label}"


def test_a_repeated_worker_id_is_caught():
    assert "ids must be unique" in violation(RepeatsIds, "test_created_workers_have_valid_opaque_ids")


class ListingSkipsAWorker(ReferenceProvider):
    async def list_workers(self, *, limit: int, cursor: str | None) -> WorkerPage:
        page = await super().list_workers(limit=limit, cursor=cursor)
        if page.next_cursor is None:
            return page
        order = list(self.workers)
        skipped = order[order.index(page.next_cursor) + 1]
        # The cursor jumps one worker too far whenever a worker follows it.
        return WorkerPage(self.runtime_id, page.items, skipped if skipped != order[-1] else page.next_cursor)


def test_a_listing_that_skips_workers_is_caught():
    assert "never listed the created workers" in violation(
        ListingSkipsAWorker, "test_listed_workers_are_valid_unique_and_complete"
    )


class ListingRepeatsAWorker(ReferenceProvider):
    async def list_workers(self, *, limit: int, cursor: str | None) -> WorkerPage:
        page = await super().list_workers(limit=limit, cursor=cursor)
        # The cursor names the page's first worker, not its last: pages overlap.
        return attrs.evolve(page, next_cursor=page.items[0].worker_id) if page.next_cursor else page


def test_a_listing_that_repeats_workers_is_caught():
    message = violation(ListingRepeatsAWorker, "test_listed_workers_are_valid_unique_and_complete")
    assert "listed a worker twice" in message


class ListingIgnoresLimit(ReferenceProvider):
    async def list_workers(self, *, limit: int, cursor: str | None) -> WorkerPage:
        return await super().list_workers(limit=limit + 1, cursor=cursor)


def test_a_listing_longer_than_its_limit_is_caught():
    assert "list_workers(limit=2) returned 3 workers" in violation(
        ListingIgnoresLimit, "test_listed_workers_are_valid_unique_and_complete"
    )


class FiltersOnePageOnly(ReferenceProvider):
    async def filter_workers(self, worker_filter, *, limit: int, cursor: str | None) -> WorkerPage:
        # Filters the first plain page and says the list ends there: later matches are lost.
        page = await self.list_workers(limit=limit, cursor=cursor)
        return WorkerPage(self.runtime_id, tuple(filter(worker_filter.matches, page.items)), None)


def test_a_filtered_listing_that_loses_matches_is_caught():
    assert "the matching workers are" in violation(
        FiltersOnePageOnly, "test_filtered_lists_are_exactly_the_matching_workers"
    )


class FilteredCursorSkipsAhead(ReferenceProvider):
    async def filter_workers(self, worker_filter, *, limit: int, cursor: str | None) -> WorkerPage:
        # Exact matches, but the cursor names the last worker *read*, not the last one returned:
        # under another filter (or none) the workers in between are skipped.
        order = list(self.workers)
        start = order.index(cursor) + 1 if cursor is not None else 0
        chosen, read = [], start
        while read < len(order) and len(chosen) < limit:
            worker = self.model(self.workers[order[read]])
            if worker_filter.matches(worker):
                chosen.append(worker)
            read += 1
        while read < len(order) and not worker_filter.matches(self.model(self.workers[order[read]])):
            read += 1
        more = read < len(order)
        return WorkerPage(self.runtime_id, tuple(chosen), order[read - 1] if more and chosen else None)


def test_a_filtered_cursor_that_skips_ahead_is_caught():
    assert "did not continue the unfiltered list" in violation(
        FilteredCursorSkipsAhead, "test_filtered_lists_are_exactly_the_matching_workers"
    )


class InventsUnknownWorkers(ReferenceProvider):
    async def get_worker(self, worker_id: str) -> Worker:
        return Worker(self.runtime_id, worker_id, self.kind, None, "idle", None, None, None, 0)


def test_answering_for_a_worker_that_does_not_exist_is_caught():
    message = violation(InventsUnknownWorkers, "test_unknown_worker_is_a_typed_error")
    assert "get_worker of a worker this runtime does not have must raise UnknownWorker" in message


class UnknownWorkerIsAKeyError(ReferenceProvider):
    async def send_input(self, worker_id: str, request: InputRequest) -> InputAccepted:
        self.workers[worker_id]  # KeyError escapes
        return await super().send_input(worker_id, request)


def test_an_untyped_error_for_an_unknown_worker_is_caught():
    message = violation(UnknownWorkerIsAKeyError, "test_unknown_worker_is_a_typed_error")
    assert "send_input of a worker this runtime does not have must raise UnknownWorker" in message
    assert "RuntimeUnavailable" in message


class UnknownWorkerEventsAreEmpty(ReferenceProvider):
    async def read_events(self, *, cursor: int | None, limit: int, worker_id: str | None = None) -> EventPage:
        if worker_id is not None and worker_id not in self.workers:
            return EventPage(self.runtime_id, (), cursor or 0, False)
        return await super().read_events(cursor=cursor, limit=limit, worker_id=worker_id)


def test_an_empty_event_page_for_an_unknown_worker_is_caught():
    assert "read_events of a worker this runtime does not have" in violation(
        UnknownWorkerEventsAreEmpty, "test_unknown_worker_is_a_typed_error"
    )


class UnknownWorkerMessageLeaksAPath(ReferenceProvider):
    async def get_worker(self, worker_id: str) -> Worker:
        if worker_id not in self.workers:
            raise UnknownWorker(f"no file /var/lib/reference/{worker_id}.json")
        return await super().get_worker(worker_id)


def test_a_path_in_an_error_message_is_caught():
    assert "error message looks like a path" in violation(
        UnknownWorkerMessageLeaksAPath, "test_unknown_worker_is_a_typed_error"
    )


#: Workers shared by every provider instance: the classic module-level-dict bug.
SHARED_WORKERS: dict = {}


class SharesWorkersAcrossRuntimes(ReferenceProvider):
    def __init__(self, runtime_id: str) -> None:
        super().__init__(runtime_id)
        self.workers = SHARED_WORKERS
        self.ids = itertools.count(len(SHARED_WORKERS) + 1)


def test_a_worker_reachable_from_another_runtime_is_caught():
    SHARED_WORKERS.clear()
    message = violation(SharesWorkersAcrossRuntimes, "test_a_worker_is_unknown_in_another_runtime")
    assert "in runtime B of a worker created in runtime A must raise UnknownWorker" in message


# -- transcript -------------------------------------------------------------------------------


class TranscriptFromZero(ReferenceProvider):
    async def read_transcript(self, worker_id: str, *, start: int, limit: int) -> TranscriptPage:
        page = await super().read_transcript(worker_id, start=start, limit=limit)
        items = tuple(attrs.evolve(entry, sequence=entry.sequence - 1) for entry in page.items)
        return TranscriptPage(
            page.runtime_id, page.worker_id, items, page.start, page.limit, page.total, page.next_start
        )


def test_sequences_that_do_not_start_at_the_requested_entry_are_caught():
    assert "must return sequences from 1 without gaps" in violation(
        TranscriptFromZero, "test_transcript_pages_are_gapless_and_bounded"
    )


class TranscriptNeverEnds(ReferenceProvider):
    async def read_transcript(self, worker_id: str, *, start: int, limit: int) -> TranscriptPage:
        page = await super().read_transcript(worker_id, start=start, limit=limit)
        return attrs.evolve(page, next_start=start + len(page.items))


def test_a_next_start_past_the_end_is_caught():
    assert "next_start must be None" in violation(TranscriptNeverEnds, "test_transcript_pages_are_gapless_and_bounded")


class TranscriptIgnoresLimit(ReferenceProvider):
    async def read_transcript(self, worker_id: str, *, start: int, limit: int) -> TranscriptPage:
        page = await super().read_transcript(worker_id, start=start, limit=limit + 1)
        return attrs.evolve(page, limit=limit)


def test_a_transcript_page_longer_than_its_limit_is_caught():
    assert "limit=1) returned 2 entries" in violation(
        TranscriptIgnoresLimit, "test_transcript_pages_are_gapless_and_bounded"
    )


class TranscriptTotalIsWrong(ReferenceProvider):
    async def read_transcript(self, worker_id: str, *, start: int, limit: int) -> TranscriptPage:
        page = await super().read_transcript(worker_id, start=start, limit=limit)
        return attrs.evolve(page, total=page.total + 1, next_start=page.next_start)


def test_a_total_that_disagrees_with_the_entries_is_caught():
    message = violation(TranscriptTotalIsWrong, "test_transcript_pages_are_gapless_and_bounded")
    assert "next_start must be" in message or "total" in message


class AcceptedSequenceIsOffByOne(ReferenceProvider):
    async def send_input(self, worker_id: str, request: InputRequest) -> InputAccepted:
        accepted = await super().send_input(worker_id, request)
        return attrs.evolve(accepted, transcript_sequence=accepted.transcript_sequence + 1)


def test_input_accepted_pointing_at_the_wrong_entry_is_caught():
    assert "InputAccepted says the input is entry 2" in violation(
        AcceptedSequenceIsOffByOne, "test_accepted_input_is_in_the_transcript_where_it_says"
    )


# -- events -----------------------------------------------------------------------------------


class EventIdsPerWorker(ReferenceProvider):
    """Numbers each worker's events from the run's first id: ids repeat across the runtime."""

    def emit(self, type_, worker_id, **data):
        event = super().emit(type_, worker_id, **data)
        own = sum(1 for e in self.events if e.worker_id == worker_id)
        self.events[-1] = attrs.evolve(event, id=self.first_event_id + own - 1)
        return self.events[-1]


def test_event_ids_that_do_not_increase_strictly_are_caught():
    message = violation(EventIdsPerWorker, "test_event_ids_increase_and_cursors_are_honoured")
    assert "must increase strictly" in message or "only events after the cursor" in message


class CursorIgnored(ReferenceProvider):
    async def read_events(self, *, cursor: int | None, limit: int, worker_id: str | None = None) -> EventPage:
        page = await super().read_events(cursor=None, limit=limit, worker_id=worker_id)
        return attrs.evolve(page, next_cursor=max(page.next_cursor, cursor or 0))


def test_a_cursor_that_is_ignored_is_caught():
    assert "must return only events after the cursor" in violation(
        CursorIgnored, "test_event_ids_increase_and_cursors_are_honoured"
    )


class HasMoreLies(ReferenceProvider):
    async def read_events(self, *, cursor: int | None, limit: int, worker_id: str | None = None) -> EventPage:
        return attrs.evolve(await super().read_events(cursor=cursor, limit=limit, worker_id=worker_id), has_more=False)


def test_has_more_false_while_events_remain_is_caught():
    message = violation(HasMoreLies, "test_event_ids_increase_and_cursors_are_honoured")
    assert "one at a time and in large pages gave different events" in message


class NextCursorSkipsAnEvent(ReferenceProvider):
    async def read_events(self, *, cursor: int | None, limit: int, worker_id: str | None = None) -> EventPage:
        page = await super().read_events(cursor=cursor, limit=limit, worker_id=worker_id)
        return attrs.evolve(page, next_cursor=page.next_cursor + 1) if page.has_more else page


def test_a_next_cursor_that_skips_events_is_caught():
    assert "gave different events" in violation(
        NextCursorSkipsAnEvent, "test_event_ids_increase_and_cursors_are_honoured"
    )


class QuietPollRewindsTheCursor(ReferenceProvider):
    async def read_events(self, *, cursor: int | None, limit: int, worker_id: str | None = None) -> EventPage:
        page = await super().read_events(cursor=cursor, limit=limit, worker_id=worker_id)
        return attrs.evolve(page, next_cursor=0) if not page.events else page


def test_a_quiet_poll_that_rewinds_the_cursor_is_caught():
    message = violation(QuietPollRewindsTheCursor, "test_event_ids_increase_and_cursors_are_honoured")
    assert re.search(
        r"must give no events, has_more false and next_cursor \d+; got 0 events, has_more False, next_cursor 0", message
    )


class WorkerFilterIgnored(ReferenceProvider):
    async def read_events(self, *, cursor: int | None, limit: int, worker_id: str | None = None) -> EventPage:
        if worker_id is not None:
            self.worker(worker_id)
        return await super().read_events(cursor=cursor, limit=limit)


def test_one_workers_events_including_others_is_caught():
    assert "include events of" in violation(WorkerFilterIgnored, "test_a_workers_events_are_its_own")


class FutureCursorAnswered(ReferenceProvider):
    async def read_events(self, *, cursor: int | None, limit: int, worker_id: str | None = None) -> EventPage:
        if cursor is not None and cursor > self.last_event_id:
            return EventPage(self.runtime_id, (), cursor, False)
        return await super().read_events(cursor=cursor, limit=limit, worker_id=worker_id)


def test_a_cursor_from_the_future_answered_silently_is_caught():
    assert "must raise CursorExpired" in violation(
        FutureCursorAnswered, "test_a_cursor_newer_than_any_event_is_expired"
    )


class RestartsIdsAtOne(ReferenceProvider):
    """Numbers every run's events from 1: the bug decision 0055 fixed in the embedded runtime."""

    def __init__(self, runtime_id: str) -> None:
        super().__init__(runtime_id)
        self.first_event_id = 1


def test_event_ids_reused_after_a_restart_are_caught():
    message = violation(RestartsIdsAtOne, "test_event_ids_are_not_reused_across_restarts")
    assert "read_events(cursor=1) after a restart" in message
    assert "must raise CursorExpired or return every event the new run issued; it skipped ids [1]" in message


class RestartsAtTheClockInSeconds(ReferenceProvider):
    """Starts each run at the clock in whole seconds: two runs within the same second reuse ids."""

    def __init__(self, runtime_id: str) -> None:
        super().__init__(runtime_id)
        self.first_event_id = int(time.time())


def test_a_clock_too_coarse_to_separate_runs_is_caught(monkeypatch):
    monkeypatch.setattr(time, "time", lambda: 1_800_000_000.0)  # both runs start in the same second
    assert "it skipped ids" in violation(RestartsAtTheClockInSeconds, "test_event_ids_are_not_reused_across_restarts")


class InputOnlyRestartsIdsAtOne(TakesInputButCannotCreate):
    """Cannot create workers, so the check issues events by input; numbers every run from 1."""

    def __init__(self, runtime_id: str) -> None:
        super().__init__(runtime_id)
        self.first_event_id = 1


def test_event_ids_reused_after_a_restart_are_caught_in_a_kind_that_only_takes_input():
    message = violation(InputOnlyRestartsIdsAtOne, "test_event_ids_are_not_reused_across_restarts")
    assert "read_events(cursor=4) after a restart" in message and "it skipped ids [1, 2, 3, 4]" in message


class NeverReportsEvents(ReferenceProvider):
    async def wait_for_events(self, *, cursor: int, timeout: float) -> bool:
        await asyncio.sleep(min(timeout, 0.01))
        return False


def test_waiting_that_never_sees_events_is_caught():
    assert "must answer True" in violation(NeverReportsEvents, "test_waiting_for_events_follows_the_cursor")


class SleepsThroughNewEvents(ReferenceProvider):
    async def wait_for_events(self, *, cursor: int, timeout: float) -> bool:
        if self.last_event_id > (cursor or self.first_event_id - 1):
            return True
        await asyncio.sleep(0.2)
        return False


def test_waiting_that_is_not_woken_by_a_new_event_is_caught():
    assert "must wake with True" in violation(SleepsThroughNewEvents, "test_waiting_for_events_follows_the_cursor")


class WaitIgnoresClose(ReferenceProvider):
    async def wait_for_events(self, *, cursor: int, timeout: float) -> bool:
        await asyncio.sleep(timeout)
        return self.last_event_id > cursor


def test_waiting_that_holds_up_close_is_caught():
    assert "must return promptly after close()" in violation(WaitIgnoresClose, "test_close_wakes_event_waiters")


# -- busy, cancel, stop ---------------------------------------------------------------------------


class QueuesInput(ReferenceProvider):
    async def send_input(self, worker_id: str, request: InputRequest) -> InputAccepted:
        worker = self.worker(worker_id)
        if worker.turn is not None:
            entry = self.record(worker, "user", request.content, "worker.input_accepted")
            return InputAccepted(self.runtime_id, worker_id, entry.sequence, entry.event_id, "busy")
        return await super().send_input(worker_id, request)


def test_input_queued_while_busy_is_caught():
    assert "exactly one must be accepted; 10 were" in violation(
        QueuesInput, "test_input_while_busy_is_refused_and_not_queued"
    )


class ClaimsAPolicyThatDoesNotExist(ReferenceProvider):
    busy_policies = ("reject", "whenever")


def test_a_busy_policy_outside_the_contract_is_caught():
    assert "'whenever'" in violation(ClaimsAPolicyThatDoesNotExist, "test_busy_policies_are_known_and_include_reject")


class ClaimsInterruptButRefusesIt(ReferenceProvider):
    busy_policies = ("reject", "interrupt")


def test_a_claimed_interrupt_that_is_refused_is_caught():
    assert "every interrupt of a busy worker must be accepted" in violation(
        ClaimsInterruptButRefusesIt, "test_interrupt_ends_the_running_turn_and_starts_its_own"
    )


class ClaimsEnqueueButRefusesIt(ReferenceProvider):
    busy_policies = ("reject", "enqueue")


def test_a_claimed_enqueue_that_is_refused_is_caught():
    assert "an enqueued input must succeed" in violation(
        ClaimsEnqueueButRefusesIt, "test_enqueued_input_waits_starts_in_order_and_cancel_drops_it"
    )


class BusyIsTheWrongError(ReferenceProvider):
    async def send_input(self, worker_id: str, request: InputRequest) -> InputAccepted:
        if self.worker(worker_id).turn is not None:
            raise InvalidRequest("try later")
        return await super().send_input(worker_id, request)


def test_busy_reported_with_the_wrong_error_is_caught():
    assert "must raise WorkerBusy; got ['InvalidRequest'" in violation(
        BusyIsTheWrongError, "test_input_while_busy_is_refused_and_not_queued"
    )


class CancelLeavesTheTurnRunning(ReferenceProvider):
    async def cancel_worker(self, worker_id: str) -> WorkerActionResult:
        worker = self.worker(worker_id)
        return WorkerActionResult(self.runtime_id, worker_id, "cancel", worker.turn is not None, worker.status)


def test_a_cancel_that_does_not_end_the_turn_is_caught():
    assert "send_input right after cancel (the worker stays usable) must succeed" in violation(
        CancelLeavesTheTurnRunning, "test_cancel_ends_the_turn_and_keeps_the_worker"
    )


class IdleCancelClaimsAChange(ReferenceProvider):
    async def cancel_worker(self, worker_id: str) -> WorkerActionResult:
        result = await super().cancel_worker(worker_id)
        return attrs.evolve(result, changed=True)


def test_an_idle_cancel_reporting_a_change_is_caught():
    assert "changed=false" in violation(IdleCancelClaimsAChange, "test_cancel_while_idle_changes_nothing")


class CancelAnswersAsStop(ReferenceProvider):
    async def cancel_worker(self, worker_id: str) -> WorkerActionResult:
        return attrs.evolve(await super().cancel_worker(worker_id), action="stop")


def test_an_action_result_naming_the_wrong_action_is_caught():
    assert "must answer action 'cancel'" in violation(CancelAnswersAsStop, "test_cancel_while_idle_changes_nothing")


class StopIsNotIdempotent(ReferenceProvider):
    async def stop_worker(self, worker_id: str) -> WorkerActionResult:
        return attrs.evolve(await super().stop_worker(worker_id), changed=True)


def test_a_second_stop_reporting_a_change_is_caught():
    assert "stop is idempotent" in violation(StopIsNotIdempotent, "test_stop_is_final_and_idempotent")


class StoppedWorkerTakesInput(ReferenceProvider):
    async def send_input(self, worker_id: str, request: InputRequest) -> InputAccepted:
        self.worker(worker_id).stopped = False
        return await super().send_input(worker_id, request)


def test_input_accepted_after_stop_is_caught():
    assert "send_input to a stopped worker must raise WorkerStopped" in violation(
        StoppedWorkerTakesInput, "test_stop_is_final_and_idempotent"
    )


class DeleteOnlyStops(ReferenceProvider):
    """Answers a delete like a delete, but keeps the worker."""

    async def delete_worker(self, worker_id: str) -> WorkerActionResult:
        await self.stop_worker(worker_id)
        return WorkerActionResult(self.runtime_id, worker_id, "delete", True, "stopped")


def test_a_deleted_worker_that_is_still_there_is_caught():
    assert "get_worker of a deleted worker must raise UnknownWorker" in violation(
        DeleteOnlyStops, "test_a_deleted_worker_is_gone_for_good"
    )


class DeleteForgetsTheWrongWorker(ReferenceProvider):
    """Forgets the worker, but drops the list entry of the one created after it."""

    async def delete_worker(self, worker_id: str) -> WorkerActionResult:
        order = list(self.workers)
        result = await super().delete_worker(worker_id)
        following = order[order.index(worker_id) + 1 :]
        if following:
            self.hidden = following[0]
        return result

    async def list_workers(self, *, limit: int, cursor: str | None) -> WorkerPage:
        page = await super().list_workers(limit=limit, cursor=cursor)
        hidden = getattr(self, "hidden", None)
        return attrs.evolve(page, items=tuple(w for w in page.items if w.worker_id != hidden))


def test_a_delete_that_hides_another_worker_from_the_list_is_caught():
    assert "lost a worker when another one was deleted" in violation(
        DeleteForgetsTheWrongWorker, "test_a_deleted_worker_is_gone_for_good"
    )


class ReusesDeletedIds(ReferenceProvider):
    """Hands out the lowest id no current worker has: a deleted worker's id comes back."""

    def new_worker_id(self, request: CreateWorkerRequest) -> str:
        return next(f"ref-{n}" for n in itertools.count(1) if f"ref-{n}" not in self.workers)


def test_a_deleted_workers_id_given_to_a_new_worker_is_caught():
    assert "ids must never be reused" in violation(ReusesDeletedIds, "test_a_deleted_worker_is_gone_for_good")


class DeleteClaimsNoChange(ReferenceProvider):
    async def delete_worker(self, worker_id: str) -> WorkerActionResult:
        return attrs.evolve(await super().delete_worker(worker_id), changed=False)


def test_a_delete_answering_changed_false_is_caught():
    assert "a delete must answer changed=true" in violation(
        DeleteClaimsNoChange, "test_a_deleted_worker_is_gone_for_good"
    )


# -- leaks ------------------------------------------------------------------------------------------


class LabelsWithSockets(ReferenceProvider):
    def model(self, worker):
        return attrs.evolve(super().model(worker), label="/run/reference/w.sock")


class DiagnosticWithAPath(ReferenceProvider):
    async def describe(self) -> RuntimeState:
        return RuntimeState(
            RuntimeStatus.DEGRADED, (Diagnostic.warning("disk", "cannot write /var/lib/reference/state"),)
        )


class EventDataWithAFileUrl(ReferenceProvider):
    def emit(self, type_, worker_id, **data):
        return super().emit(type_, worker_id, source="file:///srv/reference/log", **data)


class RepliesWithAHomePath(ReferenceProvider):
    def record(self, worker, role, content, event):
        return super().record(
            worker, role, f"{content} (see ~/reference/notes)" if role == "assistant" else content, event
        )


class ErrorMessageWithAPath(ReferenceProvider):
    async def cancel_worker(self, worker_id: str) -> WorkerActionResult:
        if worker_id not in self.workers:
            raise UnknownWorker("no /srv/reference/workers entry")
        return await super().cancel_worker(worker_id)


@pytest.mark.parametrize(
    "provider_type",
    [LabelsWithSockets, DiagnosticWithAPath, EventDataWithAFileUrl, RepliesWithAHomePath, ErrorMessageWithAPath],
    ids=["worker label", "diagnostic", "event data", "transcript entry", "error message"],
)
def test_a_path_anywhere_in_what_the_provider_returns_is_caught(provider_type):
    assert "returned data must not contain paths" in violation(provider_type, "test_nothing_returned_looks_like_a_path")


class RecordsRefusedInput(ReferenceProvider):
    """Says busy, but keeps the refused input anyway: a queue by another name."""

    async def send_input(self, worker_id: str, request: InputRequest) -> InputAccepted:
        worker = self.worker(worker_id)
        if worker.turn is not None:
            self.record(worker, "user", request.content, "worker.input_accepted")
        return await super().send_input(worker_id, request)


def test_refused_input_that_still_lands_in_the_transcript_is_caught():
    assert "refused inputs must not be queued" in violation(
        RecordsRefusedInput, "test_input_while_busy_is_refused_and_not_queued"
    )


class CancelUnderstatesItself(ReferenceProvider):
    async def cancel_worker(self, worker_id: str) -> WorkerActionResult:
        return attrs.evolve(await super().cancel_worker(worker_id), changed=False)


def test_a_cancel_that_ended_a_turn_but_says_it_changed_nothing_is_caught():
    assert "cancel during a turn must answer changed=true" in violation(
        CancelUnderstatesItself, "test_cancel_ends_the_turn_and_keeps_the_worker"
    )


class CancelOfAStoppedWorkerSucceeds(ReferenceProvider):
    async def cancel_worker(self, worker_id: str) -> WorkerActionResult:
        return WorkerActionResult(self.runtime_id, self.worker(worker_id).worker_id, "cancel", False, "stopped")


def test_cancel_accepted_after_stop_is_caught():
    assert "cancel_worker of a stopped worker must raise WorkerStopped" in violation(
        CancelOfAStoppedWorkerSucceeds, "test_stop_is_final_and_idempotent"
    )


class AcceptedEventIdIsMadeUp(ReferenceProvider):
    async def send_input(self, worker_id: str, request: InputRequest) -> InputAccepted:
        return attrs.evolve(await super().send_input(worker_id, request), event_id=10_000)


def test_input_accepted_naming_an_event_that_does_not_exist_is_caught():
    assert "event_id 10000 is not an event of this worker" in violation(
        AcceptedEventIdIsMadeUp, "test_accepted_input_is_in_the_transcript_where_it_says"
    )


# -- the event contract -------------------------------------------------------------------


class TurnStartedWithoutItsNumber(ReferenceProvider):
    def emit(self, type_, worker_id, **data):
        if type_ == "worker.turn_started":
            data.pop("turn")
        return super().emit(type_, worker_id, **data)


def test_event_data_without_a_required_field_is_caught():
    message = violation(TurnStartedWithoutItsNumber, "test_event_data_follows_the_event_contract")
    assert "events must follow the event contract" in message and "lacks the required field 'turn'" in message


class InventsAContractType(ReferenceProvider):
    def emit(self, type_, worker_id, **data):
        return super().emit("worker.spawned" if type_ == "worker.created" else type_, worker_id, **data)


def test_an_event_type_in_the_contracts_namespace_that_it_lacks_is_caught():
    assert "'worker.spawned' is not an event type of the contract" in violation(
        InventsAContractType, "test_event_data_follows_the_event_contract"
    )


class NeverSaysTheTurnStarted(ReferenceProvider):
    def emit(self, type_, worker_id, **data):
        if type_ == "worker.turn_started":
            return self.events[-1]  # the event is never issued
        return super().emit(type_, worker_id, **data)


def test_a_turn_that_never_starts_is_caught():
    message = violation(NeverSaysTheTurnStarted, "test_a_turns_events_come_in_the_contracts_order")
    assert "must come in the event contract's order" in message and "outside any turn" in message


class CompletesTurnsTwice(ReferenceProvider):
    async def run_turn(self, worker, content):
        await super().run_turn(worker, content)
        self.emit("worker.turn_completed", worker.worker_id, turn=worker.turns)


def test_a_turn_with_two_ends_is_caught():
    assert "comes outside any turn" in violation(CompletesTurnsTwice, "test_a_turns_events_come_in_the_contracts_order")


class CursorZeroIsExpired(ReferenceProvider):
    """Reads ``0`` as an id older than anything its clock-numbered run holds."""

    async def read_events(self, *, cursor: int | None, limit: int, worker_id: str | None = None) -> EventPage:
        if cursor == 0:
            raise CursorExpired("events after this cursor are no longer retained")
        return await super().read_events(cursor=cursor, limit=limit, worker_id=worker_id)


def test_cursor_zero_read_as_an_expired_id_is_caught():
    message = violation(CursorZeroIsExpired, "test_cursor_zero_means_before_the_first_event")
    assert "read_events(cursor=0), before the runtime's first event" in message and "CursorExpired" in message


class CursorZeroSkipsTheFirstEvent(ReferenceProvider):
    async def read_events(self, *, cursor: int | None, limit: int, worker_id: str | None = None) -> EventPage:
        return await super().read_events(
            cursor=self.first_event_id if cursor == 0 else cursor, limit=limit, worker_id=worker_id
        )


def test_cursor_zero_that_skips_the_first_event_is_caught():
    assert "read_events(cursor=0) must start at the runtime's first event" in violation(
        CursorZeroSkipsTheFirstEvent, "test_cursor_zero_means_before_the_first_event"
    )


def test_every_check_of_the_suite_has_a_breach_test_here():
    # A check that no broken provider makes fail is a check that may never fail.
    from pathlib import Path

    from runtime_registry.testing.conformance import RuntimeConformance

    source = Path(__file__).read_text()
    checks = RuntimeConformance.check_names()
    # Every test method of the suite is a declared check, so none escapes this count.
    assert set(checks) == {name for name in dir(RuntimeConformance) if name.startswith("test_")} and len(checks) >= 25
    assert [check for check in checks if f'"{check}"' not in source] == []


class EventDataIsNotJson(ReferenceProvider):
    def emit(self, type_, worker_id, **data):
        return super().emit(type_, worker_id, handle=object(), **data)


class CreatedAtIsAString(ReferenceProvider):
    def model(self, worker):
        return attrs.evolve(super().model(worker), created_at="yesterday")


@pytest.mark.parametrize(
    ("provider_type", "operation"),
    [(EventDataIsNotJson, "read_events"), (CreatedAtIsAString, "get_worker")],
    ids=["event data holding an object", "a worker's created_at holding a string"],
)
def test_data_the_server_cannot_render_is_caught(provider_type, operation):
    assert f"{operation} returned data that cannot become JSON" in violation(
        provider_type, "test_everything_returned_becomes_json"
    )


class SlowToCreate(ReferenceProvider):
    async def create_worker(self, request: CreateWorkerRequest) -> Worker:
        await asyncio.sleep(0.06)
        return await super().create_worker(request)


def test_a_check_that_runs_out_of_time_is_a_violation_not_a_bare_timeout():
    suite = ReferenceConformance()
    suite.provider_type = SlowToCreate  # type: ignore[assignment]
    suite.check_timeout = 0.2  # each call may take 0.1 s; five creates take 0.3 s
    with pytest.raises(ContractViolation, match=r"did not finish within 0\.2 s"):
        suite.test_listed_workers_are_valid_unique_and_complete()


class HangsInGetWorker(ReferenceProvider):
    async def get_worker(self, worker_id: str) -> Worker:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def test_an_operation_that_hangs_is_a_violation_pointing_at_the_call_timeout():
    suite = ReferenceConformance()
    suite.provider_type = HangsInGetWorker  # type: ignore[assignment]
    suite.check_timeout = 0.2
    with pytest.raises(ContractViolation, match=r"get_worker .*RuntimeTimeout.*did not answer within the call timeout"):
        suite.test_true_capabilities_work()


# -- turns: status, events against the transcript, a turn ended by control -----------------


class AnswersIdleToInput(ReferenceProvider):
    async def send_input(self, worker_id, request):
        return attrs.evolve(await super().send_input(worker_id, request), status="idle")


class NeverSaysBusy(ReferenceProvider):
    def model(self, worker):
        worker_model = super().model(worker)
        return attrs.evolve(worker_model, status="idle") if worker_model.status == "busy" else worker_model


@pytest.mark.parametrize(
    ("provider_type", "expected"),
    [
        (AnswersIdleToInput, "the answer to an input that starts a slow turn must say status 'busy'; it says 'idle'"),
        (NeverSaysBusy, "a worker must say status 'busy' while its turn runs; it says 'idle'"),
    ],
    ids=["input answer always idle", "status never busy"],
)
def test_busy_that_is_not_said_is_caught(provider_type, expected):
    assert expected in violation(provider_type, "test_input_answers_and_status_say_busy_while_a_turn_runs")


class TranscriptLengthOffByOne(ReferenceProvider):
    def model(self, worker):
        worker_model = super().model(worker)
        return attrs.evolve(worker_model, transcript_length=worker_model.transcript_length + 1)


def test_a_transcript_length_off_by_one_is_caught():
    assert "transcript_length must be the number of transcript entries" in violation(
        TranscriptLengthOffByOne, "test_transcript_length_is_the_transcripts"
    )


class OutputNamesTheInputsEntry(ReferenceProvider):
    def emit(self, type_, worker_id, **data):
        if type_ == "worker.output":
            data["transcript_sequence"] -= 1
        return super().emit(type_, worker_id, **data)


class InputEventQuotesOtherContent(ReferenceProvider):
    def emit(self, type_, worker_id, **data):
        if type_ == "worker.input_accepted":
            data["content"] = data["content"].strip().title()
        return super().emit(type_, worker_id, **data)


@pytest.mark.parametrize(
    ("provider_type", "expected"),
    [
        (OutputNamesTheInputsEntry, "which was announced by event"),
        (InputEventQuotesOtherContent, "'Conformance Entry One'; entry 1 holds 'user': 'conformance entry one'"),
    ],
    ids=["output naming the wrong entry", "input content unlike the transcript's"],
)
def test_events_that_misname_their_transcript_entry_are_caught(provider_type, expected):
    message = violation(provider_type, "test_input_and_output_events_name_their_transcript_entries")
    assert "input and output events must name the transcript entry they announce" in message and expected in message


class CancelSaysNothing(ReferenceProvider):
    def record(self, worker, role, content, event_type, **data):
        if event_type == "worker.turn_cancelled":
            return None  # the turn ends without its end event
        return super().record(worker, role, content, event_type, **data)


class CancelledTurnTakesEffect(ReferenceProvider):
    async def end_turn(self, worker, reason):
        if worker.turn is None:
            return False
        worker.turn = None  # idle at once, but the turn's task runs on and replies
        self.record(worker, "system", "cancelled", "worker.turn_cancelled", turn=worker.turns, reason=reason)
        return True


class EveryCancelSaysCancel(ReferenceProvider):
    async def end_turn(self, worker, reason):
        return await super().end_turn(worker, "cancel")


def test_a_cancel_without_turn_cancelled_is_caught():
    message = violation(CancelSaysNothing, "test_a_cancelled_turn_ends_once_with_reason_cancel_and_takes_no_effect")
    assert (
        "after a cancel in the middle of a turn" in message
        and "input was accepted while turn 1 was still running" in message
    )


def test_a_cancelled_turn_that_still_completes_is_caught():
    message = violation(
        CancelledTurnTakesEffect, "test_a_cancelled_turn_ends_once_with_reason_cancel_and_takes_no_effect"
    )
    assert "comes outside any turn" in message or "while turn" in message


def test_stop_that_leaves_the_turn_running_is_caught():
    message = violation(CancelledTurnTakesEffect, "test_stop_in_the_middle_of_a_turn_ends_it_with_reason_stop")
    assert "after a stop in the middle of a turn" in message and "comes outside any turn" in message


@pytest.mark.parametrize(
    ("check", "reason"),
    [
        ("test_stop_in_the_middle_of_a_turn_ends_it_with_reason_stop", "stop"),
        ("test_delete_in_the_middle_of_a_turn_ends_it_with_reason_delete_and_says_deleted", "delete"),
    ],
)
def test_a_cancel_reason_that_is_always_cancel_is_caught(check, reason):
    message = violation(EveryCancelSaysCancel, check)
    assert (
        f"must end it with one worker.turn_cancelled of reason {reason!r}; the worker's cancelled turns say ['cancel']"
        in message
    )


class DeletesSilently(ReferenceProvider):
    def emit(self, type_, worker_id, **data):
        if type_ == "worker.deleted":
            return self.events[-1]
        return super().emit(type_, worker_id, **data)


def test_a_delete_without_worker_deleted_is_caught():
    assert "worker.deleted must be a deleted worker's last event; the last is worker.stopped" in violation(
        DeletesSilently, "test_delete_in_the_middle_of_a_turn_ends_it_with_reason_delete_and_says_deleted"
    )


class DeleteKeepsItsSlot(ReferenceProvider):
    async def delete_worker(self, worker_id):
        result = await super().delete_worker(worker_id)
        self.workers[f"{worker_id}-ghost"] = ReferenceWorker(f"{worker_id}-ghost", None, slow=False)
        return result

    async def list_workers(self, *, limit, cursor):
        page = await super().list_workers(limit=limit, cursor=cursor)
        return attrs.evolve(page, items=tuple(w for w in page.items if not w.worker_id.endswith("-ghost")))


def test_a_delete_that_does_not_free_a_max_workers_slot_is_caught():
    assert "create_worker after a delete at max_workers (a deleted worker frees its slot) must succeed" in violation(
        DeleteKeepsItsSlot, "test_a_delete_frees_a_max_workers_slot"
    )


class FallsBackSilently(ReferenceProvider):
    async def create_worker(self, request):
        return attrs.evolve(await super().create_worker(request), diagnostics=())


def test_a_profile_fallback_without_its_diagnostic_is_caught():
    assert "must carry a profile_fallback diagnostic; it carries []" in violation(
        FallsBackSilently, "test_an_unknown_profile_is_refused_or_falls_back_with_a_diagnostic"
    )
