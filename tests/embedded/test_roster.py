"""The roster: creation order, tombstones and their compaction, pages by serial."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry_core import Intent, IntentKind
from runtime_registry.runtimes.embedded.profiles import BUILTIN_PROFILES
from runtime_registry.runtimes.embedded.roster import Roster
from runtime_registry.runtimes.embedded.workers import WorkerRecord

FIRST = 1_000


def filled(count: int) -> tuple[Roster, list[WorkerRecord]]:
    roster = Roster(FIRST)
    records = []
    for _ in range(count):
        records.append(record_for(roster))
        roster.append(records[-1])
    return roster, records


def record_for(roster: Roster) -> WorkerRecord:
    """A worker record carrying the roster's next serial."""
    serial = roster.next_serial
    profile = next(iter(BUILTIN_PROFILES.values()))
    return WorkerRecord(f"w-{serial}", None, Intent(IntentKind.ASSISTANT), profile, datetime.now(UTC), serial)


def serials(workers: list[WorkerRecord]) -> list[int]:
    return [worker.serial for worker in workers]


def walk(roster: Roster, limit: int) -> list[int]:
    """Every serial, page by page."""
    found: list[int] = []
    after = None
    while True:
        page, more = roster.page(after=after, limit=limit)
        found += serials(page)
        if not more:
            return found
        after = page[-1].serial


def test_pages_follow_creation_order():
    roster, records = filled(5)
    assert roster.page(after=None, limit=3) == (records[:3], True)
    assert roster.page(after=records[2].serial, limit=3) == (records[3:], False)


def test_a_worker_appended_out_of_order_is_refused():
    roster, records = filled(1)
    with pytest.raises(ValueError):
        roster.append(records[0])


def test_removing_a_worker_twice_is_refused():
    roster, records = filled(3)
    roster.remove(records[1])
    with pytest.raises(ValueError):
        roster.remove(records[1])


def test_pages_skip_removed_workers_in_runs_of_any_length():
    roster, records = filled(20)
    removed = {1, 2, 3, 4, 5, 9, 15, 16}  # fewer than half: no compaction
    for index in sorted(removed, reverse=True):
        roster.remove(records[index])
    expected = [r.serial for i, r in enumerate(records) if i not in removed]
    assert walk(roster, 1) == walk(roster, 3) == walk(roster, 100) == expected


def test_a_page_after_a_removed_serial_starts_at_the_next_live_worker():
    roster, records = filled(6)
    roster.remove(records[2])
    roster.remove(records[3])
    assert serials(roster.page(after=records[2].serial, limit=10)[0]) == serials(records[4:])


def test_more_than_half_removed_compacts_and_keeps_order_and_cursors():
    roster, records = filled(10)
    for record in records[:6]:
        roster.remove(record)
    assert (len(roster), len(roster._records)) == (4, 4)
    assert serials(roster.page(after=records[3].serial, limit=10)[0]) == serials(records[6:])


def test_issued_covers_every_appended_serial_and_no_other():
    roster, records = filled(3)
    roster.remove(records[0])
    assert [roster.issued(s) for s in (FIRST - 1, FIRST, FIRST + 2, FIRST + 3)] == [False, True, True, False]


def test_workers_appended_after_removals_are_listed_last():
    roster, records = filled(4)
    roster.remove(records[3])
    newest = record_for(roster)
    roster.append(newest)
    assert walk(roster, 2) == [*serials(records[:3]), newest.serial]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["append", "remove", "page"]), st.integers(0, 40), st.integers(1, 7)), max_size=80
    )
)
def test_any_sequence_of_appends_removals_and_pages_agrees_with_a_plain_list(steps):
    roster, live = Roster(FIRST), []
    for action, index, limit in steps:
        if action == "append":
            live.append(record_for(roster))
            roster.append(live[-1])
        elif action == "remove" and live:
            roster.remove(live.pop(index % len(live)))
        elif action == "page":
            after = FIRST + index if roster.issued(FIRST + index) else None
            expected = [r for r in live if after is None or r.serial > after]
            assert roster.page(after=after, limit=limit) == (expected[:limit], len(expected) > limit)
        assert len(roster) == len(live)
    assert walk(roster, 3) == serials(live)
