"""Pages bounded by bytes as well as by count (issue 12, point 1).

Every page of events (runtime-wide and per worker), transcript entries and
workers holds at most ``max_page_bytes`` of JSON, or one item alone when that
item is larger; a page cut short carries its cursor, and following cursors
reads every item exactly once.
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from registry_core import Intent, IntentKind
from registry_core.models import LongText, ShortText
from registry_core.page_bytes import fit_to_bytes, json_size, text_size
from runtime_registry.server.serialization import encode_json, render_json, to_json_data

from .conftest import A, create, open_registry, send, until_idle

MAX_PAGE_BYTES = 16_384


def _size(value) -> int:
    return len(render_json(value).encode("utf-8"))


def _items_bytes(items) -> int:
    return sum(len(encode_json(to_json_data(item)).encode("utf-8")) + 1 for item in items)


@given(st.text())
@hypothesis_settings(max_examples=300)
def test_text_size_is_the_size_of_the_json_string(text):
    assert text_size(text) == len(encode_json(text).encode("utf-8"))


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=20,
    )
)
@hypothesis_settings(max_examples=200)
def test_json_size_never_undercounts(value):
    assert json_size(value) >= len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


@given(st.text(alphabet=st.characters(max_codepoint=0x7F)))
@hypothesis_settings(max_examples=300)
def test_text_size_of_ascii_text_is_exact(text):
    # ASCII has its own path (decision 0243): quotes, backslashes, controls and DEL included.
    assert text_size(text) == len(encode_json(text).encode("utf-8"))
    assert text_size('say "hi" \\ \x7f\n') == len(encode_json('say "hi" \\ \x7f\n').encode("utf-8"))


def _reference_json_size(value) -> int:
    """json_size's documented rules, by isinstance alone (what it computed before its fast paths)."""
    if isinstance(value, str):
        return text_size(value)
    if value is None or isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return len(str(value)) if -(10**18) < value < 10**18 else value.bit_length() * 3 // 10 + 2
    if isinstance(value, float):
        return 24
    if isinstance(value, dict):
        return 2 + sum(text_size(str(key)) + 2 + _reference_json_size(item) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return 2 + sum(_reference_json_size(item) + 1 for item in value)
    return 64


class _Text(str):
    pass


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**17, max_value=10**30)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.text(max_size=8).map(_Text)
)
_KEYS = st.text(max_size=8) | st.integers(-5, 5) | st.booleans() | st.none()


@given(
    st.recursive(
        _SCALARS,
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.lists(inner, max_size=3).map(tuple)
            | st.dictionaries(_KEYS, inner, max_size=4)
        ),
        max_leaves=20,
    )
)
@hypothesis_settings(max_examples=300)
def test_json_size_fast_paths_give_the_general_rules_sizes(value):
    # Twice: the second time the keys' sizes come from the cache of keys seen.
    assert json_size(value) == _reference_json_size(value)
    assert json_size(value) == _reference_json_size(value)


def test_fit_to_bytes_keeps_at_least_one_item():
    assert fit_to_bytes([100, 100, 100], 250) == 2
    assert fit_to_bytes([1000, 1], 10) == 1
    assert fit_to_bytes([], 10) == 0


async def _filled(inputs: int, content: str):
    registry = await open_registry(max_page_bytes=MAX_PAGE_BYTES)
    worker_id = await create(registry, "echo-now")
    for _ in range(inputs):
        await send(registry, worker_id, content)
        await until_idle(registry, worker_id)
    return registry, worker_id


async def test_event_pages_are_cut_by_bytes_and_lose_nothing():
    registry, _ = await _filled(12, "\U0001f600" * 1500)  # 6 KB of UTF-8 each
    try:
        seen, cursor, pages = [], 0, 0
        while True:
            page = await registry.read_events(A, cursor=cursor, limit=1000)
            pages += 1
            assert _items_bytes(page.events) <= MAX_PAGE_BYTES or len(page.events) == 1
            seen += [event.id for event in page.events]
            cursor = page.next_cursor
            if not page.has_more:
                break
        assert pages > 1
        assert seen == list(range(seen[0], seen[0] + len(seen))) and len(seen) == 1 + 12 * 4
    finally:
        await registry.close()


async def test_one_workers_event_pages_are_cut_by_bytes_too():
    registry, worker_id = await _filled(8, "x" * 5000)
    try:
        page = await registry.read_events(A, cursor=0, limit=1000, worker_id=worker_id)
        assert page.has_more and _items_bytes(page.events) <= MAX_PAGE_BYTES
        rest = await registry.read_events(A, cursor=page.next_cursor, limit=1000, worker_id=worker_id)
        assert rest.events[0].id > page.events[-1].id
    finally:
        await registry.close()


async def test_transcript_pages_are_cut_by_bytes_and_lose_nothing():
    registry, worker_id = await _filled(10, "\u8a9e" * 2000)  # 6 KB each
    try:
        sequences, start = [], 1
        while start is not None:
            page = await registry.read_transcript(A, worker_id, start=start, limit=500)
            assert _items_bytes(page.items) <= MAX_PAGE_BYTES or len(page.items) == 1
            sequences += [entry.sequence for entry in page.items]
            start = page.next_start
        assert sequences == list(range(1, 21))
    finally:
        await registry.close()


async def test_an_item_larger_than_the_bound_is_served_alone():
    registry, worker_id = await _filled(2, "\x01" * 4000)  # 24 KB as JSON: \u0001 each
    try:
        page = await registry.read_transcript(A, worker_id, start=1, limit=500)
        assert len(page.items) == 1 and page.next_start == 2
    finally:
        await registry.close()


async def test_worker_pages_are_cut_by_bytes_and_lose_nothing():
    registry = await open_registry(max_page_bytes=MAX_PAGE_BYTES)
    try:
        text = LongText("\U0001f600" * 1000)
        created = [
            await create(registry, intent=Intent(IntentKind.TASK, purpose=text, objective=text, role=ShortText("r")))
            for _ in range(10)
        ]
        listed, cursor = [], None
        while True:
            page = await registry.list_workers(A, limit=200, cursor=cursor)
            assert _size(page) <= MAX_PAGE_BYTES + 512 or len(page.items) == 1
            listed += [worker.worker_id for worker in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert listed == created
        overview = await registry.list_all_workers(limit=500)
        assert 0 < len(overview.items) < 10 and overview.next_cursor is not None
    finally:
        await registry.close()
