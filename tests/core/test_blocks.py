"""registry_core.blocks: the event log, transcript and roster a kind builds on."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from registry_core import (
    CapacityExceeded,
    CursorExpired,
    InvalidCursor,
    InvalidRequest,
    UnknownWorker,
    is_valid_identifier,
)
from registry_core.blocks import EventLog, Roster, Transcript

# -- the event log ---------------------------------------------------------------


def test_the_blocks_load_no_host_machinery():
    code = "import sys, registry_core.blocks; print(sorted(m for m in sys.modules if m.startswith('runtime_registry')))"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    )


def test_cursor_zero_is_before_the_first_event_and_none_the_oldest_retained():
    log = EventLog(3, start_id=100)
    for _ in range(2):
        log.append("worker.created", "w", {})
    assert [e.id for e in log.read(cursor=0, limit=10).events] == [100, 101]
    log.append("worker.created", "w", {})
    log.append("worker.created", "w", {})
    with pytest.raises(CursorExpired):
        log.read(cursor=0, limit=10)
    assert [e.id for e in log.read(cursor=None, limit=10).events] == [101, 102, 103]


def test_a_future_cursor_and_a_dropped_one_are_expired_never_skipped():
    log = EventLog(2, start_id=1)
    for _ in range(4):
        log.append("t", None, {})
    for cursor in (1, 9):
        with pytest.raises(CursorExpired):
            log.read(cursor=cursor, limit=1)


def test_page_builds_the_event_page_and_refuses_a_negative_cursor():
    log = EventLog(5, start_id=1)
    log.append("t", "w", {"a": 1})
    page = log.page("rt", cursor=0, limit=5, worker_id="w")
    assert (page.runtime_id, [e.id for e in page.events], page.next_cursor, page.has_more) == ("rt", [1], 1, False)
    with pytest.raises(InvalidRequest):
        log.page("rt", cursor=-1, limit=5)


@hypothesis_settings(max_examples=60, deadline=None)
@given(
    retention=st.integers(1, 6),
    appends=st.lists(st.sampled_from(["w1", "w2", None]), max_size=30),
    limit=st.integers(1, 4),
    worker=st.sampled_from(["w1", None]),
)
def test_paging_from_zero_by_next_cursor_sees_each_retained_event_once(retention, appends, limit, worker):
    log = EventLog(retention, start_id=1)
    for worker_id in appends:
        log.append("t", worker_id, {})
    expected = [e.id for e in log.read(cursor=None, limit=1000, worker_id=worker).events]
    seen, cursor = [], log.first_id - 1
    while True:
        found = log.read(cursor=cursor, limit=limit, worker_id=worker)
        seen += [e.id for e in found.events]
        cursor = found.next_cursor
        if not found.has_more:
            break
    assert seen == expected


async def test_waiters_wake_on_an_event_and_return_false_after_close():
    log = EventLog(5, start_id=1)
    waiter = asyncio.create_task(log.wait(cursor=0, timeout=5))
    await asyncio.sleep(0)
    log.append("t", None, {})
    assert await waiter is True
    idle = asyncio.create_task(log.wait(cursor=1, timeout=5))
    await asyncio.sleep(0)
    log.close()
    assert await asyncio.wait_for(idle, 1) is False


# -- the transcript --------------------------------------------------------------


def test_transcript_sequences_are_gapless_and_pages_end_with_none():
    transcript = Transcript()
    for index in range(5):
        assert transcript.next_sequence == index + 1
        transcript.append("user", f"m{index}", index)
    page = transcript.page("rt", "w", start=2, limit=3)
    assert ([e.sequence for e in page.items], page.total, page.next_start) == ([2, 3, 4], 5, 5)
    last = transcript.page("rt", "w", start=5, limit=3)
    assert ([e.content for e in last.items], last.next_start) == (["m4"], None)
    assert transcript.page("rt", "w", start=9, limit=3).items == ()


def test_a_full_transcript_refuses_a_turn_whole():
    transcript = Transcript(max_entries=3)
    transcript.reserve(2)
    transcript.append("user", "a", None)
    transcript.append("assistant", "a", None)
    with pytest.raises(CapacityExceeded):
        transcript.reserve(2)
    assert len(transcript) == 2


# -- the roster ------------------------------------------------------------------


def test_ids_are_valid_opaque_unique_and_never_reissued_after_delete():
    roster: Roster[str] = Roster(id_prefix="nt-")
    ids = [roster.add(lambda worker_id: worker_id) for _ in range(50)]
    assert len(set(ids)) == 50 and all(is_valid_identifier(i) and i.startswith("nt-") for i in ids)
    roster.remove(ids[-1])
    assert roster.add(lambda worker_id: worker_id) not in ids
    with pytest.raises(UnknownWorker):
        roster.get(ids[-1])


def test_two_runs_never_share_an_id():
    first: Roster[str] = Roster()
    second: Roster[str] = Roster()
    a = {first.add(str) for _ in range(100)}
    b = {second.add(str) for _ in range(100)}
    assert not a & b


def test_a_list_cursor_survives_the_delete_of_the_worker_it_names():
    roster: Roster[str] = Roster(first_serial=1)
    ids = [roster.add(str) for _ in range(6)]
    page, cursor = roster.page(cursor=None, limit=2)
    assert page == ids[:2] and cursor is not None
    roster.remove(ids[1])
    roster.remove(ids[2])
    rest, end = roster.page(cursor=cursor, limit=10)
    assert (rest, end) == (ids[3:], None)


@hypothesis_settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 40)), max_size=60), st.integers(1, 5))
def test_pages_list_exactly_the_live_workers_in_order(operations, limit):
    roster: Roster[str] = Roster(first_serial=1)
    live: list[str] = []
    for add, index in operations:
        if add or not live:
            live.append(roster.add(str))
        else:
            live.remove(roster.remove(live[index % len(live)]))
    seen, cursor = [], None
    while True:
        page, cursor = roster.page(cursor=cursor, limit=limit)
        assert len(page) <= limit
        seen += page
        if cursor is None:
            break
    assert seen == live == list(roster) and len(roster) == len(live)


@pytest.mark.parametrize("cursor", ["", "1", "1-nottag", "01-{tag}", "999-{tag}", "x-{tag}", "1" * 30 + "-{tag}"])
def test_a_cursor_this_roster_did_not_issue_is_invalid_cursor(cursor):
    roster: Roster[str] = Roster(first_serial=1)
    roster.add(str)
    with pytest.raises(InvalidCursor) as caught:
        roster.page(cursor=cursor.format(tag=roster.cursor_tag), limit=1)
    assert caught.value.details[0]["path"] == "cursor"


def test_an_earlier_runs_cursor_is_refused():
    first: Roster[str] = Roster()
    for _ in range(3):
        first.add(str)
    _, cursor = first.page(cursor=None, limit=1)
    with pytest.raises(InvalidCursor):
        Roster[str]().page(cursor=cursor, limit=1)


def test_a_prefix_of_non_id_characters_is_refused():
    with pytest.raises(ValueError):
        Roster(id_prefix="a/b")


def test_the_embedded_runtime_keeps_its_events_in_the_event_log_block():
    from runtime_registry.runtimes.embedded import EmbeddedRuntime
    from runtime_registry.runtimes.embedded import EventLog as EmbeddedEventLog

    assert EmbeddedEventLog is EventLog
    assert isinstance(EmbeddedRuntime().events, EventLog)


def test_restore_continues_ids_and_cursors_of_a_stored_log():
    first = EventLog(10, start_id=1)
    kept = [first.append("worker.created", f"w{index}", {}) for index in range(3)]
    second = EventLog(10, start_id=1)
    second.restore(kept, last_id=first.last_id, worker_ids=["w1", "w2"])
    assert [e.id for e in second.read(cursor=1, limit=10).events] == [2, 3]
    assert [e.id for e in second.read(cursor=0, limit=10, worker_id="w2").events] == [3]
    assert second.append("worker.created", "w3", {}).id == 4


def test_restore_keeps_the_byte_bound_by_dropping_the_oldest_restored_events():
    stored = EventLog(10, start_id=1)
    kept = [stored.append("worker.output", "w1", {"content": "x" * 1000}) for _ in range(5)]
    one_event = stored.retained_bytes // 5
    bounded = EventLog(10, start_id=1, max_retained_bytes=2 * one_event)
    bounded.restore(kept, last_id=stored.last_id, worker_ids=["w1"])
    assert [e.id for e in bounded.read(cursor=None, limit=10).events] == [4, 5]
    assert bounded.retained_bytes <= 2 * one_event
    assert [e.id for e in bounded.read(cursor=None, limit=10, worker_id="w1").events] == [4, 5]
    with pytest.raises(CursorExpired):
        bounded.read(cursor=1, limit=10)
