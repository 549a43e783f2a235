"""The roster block as the embedded runtime uses it: creation order, tombstones and compaction, cursors, restore."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry_core.blocks import Roster
from registry_core.errors import InvalidCursor, UnknownWorker

FIRST = 1_000


def filled(count: int) -> tuple[Roster[str], list[str]]:
    roster: Roster[str] = Roster(first_serial=FIRST, cursor_tag="t")
    return roster, [roster.add(lambda worker_id: worker_id) for _ in range(count)]


def walk(roster: Roster[str], limit: int) -> list[str]:
    """Every worker, page by page."""
    found: list[str] = []
    cursor = None
    while True:
        page, cursor = roster.page(cursor=cursor, limit=limit)
        found += page
        if cursor is None:
            return found


def test_pages_follow_creation_order():
    roster, ids = filled(5)
    page, cursor = roster.page(cursor=None, limit=3)
    assert page == ids[:3] and cursor == roster.cursor_after(ids[2])
    assert roster.page(cursor=cursor, limit=3) == (ids[3:], None)


def test_removing_a_worker_twice_is_refused():
    roster, ids = filled(3)
    roster.remove(ids[1])
    with pytest.raises(UnknownWorker):
        roster.remove(ids[1])
    assert roster.find(ids[1]) is None and roster.find(ids[0]) == ids[0]


def test_pages_skip_removed_workers_in_runs_of_any_length():
    roster, ids = filled(20)
    removed = {1, 2, 3, 4, 5, 9, 15, 16}  # fewer than half: no compaction
    for index in sorted(removed, reverse=True):
        roster.remove(ids[index])
    expected = [worker for i, worker in enumerate(ids) if i not in removed]
    assert walk(roster, 1) == walk(roster, 3) == walk(roster, 100) == expected


def test_a_cursor_after_a_removed_worker_starts_at_the_next_live_worker():
    roster, ids = filled(6)
    cursor = roster.cursor_after(ids[2])
    roster.remove(ids[2])
    roster.remove(ids[3])
    assert roster.page(cursor=cursor, limit=10) == (ids[4:], None)


def test_more_than_half_removed_compacts_and_keeps_order_and_cursors():
    roster, ids = filled(10)
    cursor = roster.cursor_after(ids[3])
    for worker in ids[:6]:
        roster.remove(worker)
    assert (len(roster), len(roster._items)) == (4, 4)
    assert roster.page(cursor=cursor, limit=10) == (ids[6:], None)


def test_a_cursor_of_a_serial_never_issued_is_refused():
    roster, _ids = filled(3)
    for cursor in (f"{FIRST - 1}-t", f"{FIRST + 3}-t", f"{FIRST}-other"):
        with pytest.raises(InvalidCursor):
            roster.page(cursor=cursor, limit=1)


def test_a_restored_roster_keeps_serials_cursors_and_the_next_serial():
    roster, ids = filled(4)
    roster.remove(ids[1])
    cursor = roster.cursor_after(ids[0])
    kept = [(worker, FIRST + index, worker) for index, worker in enumerate(ids) if index != 1]
    again: Roster[str] = Roster(first_serial=FIRST, cursor_tag="t")
    again.restore(kept, next_serial=roster.next_serial)
    assert again.page(cursor=cursor, limit=10) == (ids[2:], None)
    assert again.add(lambda worker_id: worker_id) not in ids and again.next_serial == FIRST + 5


@pytest.mark.parametrize(
    "workers, next_serial",
    [([("a", FIRST + 1, "a"), ("b", FIRST, "b")], FIRST + 2), ([("a", FIRST, "a")], FIRST), ([("a", 1, "a")], FIRST)],
)
def test_restoring_serials_out_of_order_or_range_is_refused(workers, next_serial):
    with pytest.raises(ValueError):
        Roster[str](first_serial=FIRST).restore(workers, next_serial=next_serial)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["add", "remove", "page"]), st.integers(0, 40), st.integers(1, 7)), max_size=80)
)
def test_any_sequence_of_adds_removals_and_pages_agrees_with_a_plain_list(steps):
    roster: Roster[str] = Roster(first_serial=FIRST)
    live: list[str] = []
    issued: list[str] = []
    for action, index, limit in steps:
        if action == "add":
            live.append(roster.add(lambda worker_id: worker_id))
            issued.append(live[-1])
        elif action == "remove" and live:
            roster.remove(live.pop(index % len(live)))
        elif action == "page" and issued:
            after = issued[index % len(issued)]
            cursor = f"{FIRST + issued.index(after)}-{roster.cursor_tag}"
            expected = [worker for worker in live if issued.index(worker) > issued.index(after)]
            page, following = roster.page(cursor=cursor, limit=limit)
            assert page == expected[:limit] and (following is not None) == (len(expected) > limit)
        assert len(roster) == len(live)
    assert walk(roster, 3) == live
