"""Transcript pages, input limits and transcript capacity."""

from __future__ import annotations

import pytest

from registry_core import CapacityExceeded, InvalidRequest, LimitTooLarge

from .conftest import A, create, open_registry, send, until_idle


@pytest.fixture
async def talked(registry):
    """A default-profile worker with five user entries."""
    worker_id = await create(registry)
    for index in range(1, 6):
        await send(registry, worker_id, f"m{index}")
        await until_idle(registry, worker_id)
    return registry, worker_id


async def test_a_page_holds_limit_entries_from_start_and_says_where_to_go_next(talked):
    registry, worker_id = talked
    page = await registry.read_transcript(A, worker_id, start=2, limit=2)
    assert [e.content for e in page.items] == ["m2", "m3"]
    assert (page.start, page.limit, page.total, page.next_start) == (2, 2, 5, 4)


async def test_the_last_page_has_no_next_start(talked):
    registry, worker_id = talked
    page = await registry.read_transcript(A, worker_id, start=4, limit=2)
    assert [e.sequence for e in page.items] == [4, 5] and page.next_start is None


async def test_start_beyond_the_end_is_an_empty_page(talked):
    registry, worker_id = talked
    page = await registry.read_transcript(A, worker_id, start=99, limit=2)
    assert (page.items, page.total, page.next_start) == ((), 5, None)


async def test_empty_transcript_is_an_empty_page(registry):
    page = await registry.read_transcript(A, await create(registry))
    assert (page.items, page.total, page.next_start) == ((), 0, None)


async def test_limit_at_the_maximum_is_served():
    registry = await open_registry(transcript_page_max=3)
    try:
        worker_id = await create(registry, "echo-now")
        for _ in range(2):
            await send(registry, worker_id)
            await until_idle(registry, worker_id)
        page = await registry.read_transcript(A, worker_id, limit=3)
        assert len(page.items) == 3 and page.next_start == 4
    finally:
        await registry.close()


async def test_limit_above_the_maximum_is_limit_too_large(registry):
    with pytest.raises(LimitTooLarge):
        await registry.read_transcript(A, await create(registry), limit=501)


async def test_input_longer_than_max_input_chars_is_invalid_and_names_content():
    registry = await open_registry(max_input_chars=5)
    try:
        worker_id = await create(registry)
        await send(registry, worker_id, "12345")
        await until_idle(registry, worker_id)
        with pytest.raises(InvalidRequest) as caught:
            await send(registry, worker_id, "123456")
        assert caught.value.details[0]["path"] == "content"
        assert (await registry.get_worker(A, worker_id)).transcript_length == 1
    finally:
        await registry.close()


async def test_input_without_room_for_its_reply_is_capacity_exceeded_and_nothing_is_dropped():
    registry = await open_registry(max_transcript_entries=5)
    try:
        worker_id = await create(registry, "echo-now")
        for content in ("a", "b"):
            await send(registry, worker_id, content)
            await until_idle(registry, worker_id)
        with pytest.raises(CapacityExceeded) as caught:
            await send(registry, worker_id, "c")
        assert caught.value.worker_id == worker_id
        page = await registry.read_transcript(A, worker_id)
        assert [e.content for e in page.items] == ["a", "a", "b", "b"]
        assert (await registry.get_worker(A, worker_id)).status == "idle"
    finally:
        await registry.close()


async def test_a_profile_without_replies_may_fill_the_transcript_to_the_last_entry():
    registry = await open_registry(max_transcript_entries=3)
    try:
        worker_id = await create(registry)
        for content in ("a", "b", "c"):
            await send(registry, worker_id, content)
            await until_idle(registry, worker_id)
        with pytest.raises(CapacityExceeded):
            await send(registry, worker_id, "d")
        assert (await registry.read_transcript(A, worker_id)).total == 3
    finally:
        await registry.close()


async def test_accepted_content_is_returned_exactly(registry):
    content = "  multi\nline ünïcode \t✓  " * 100
    worker_id = await create(registry, "echo-now")
    await send(registry, worker_id, content)
    await until_idle(registry, worker_id)
    assert [e.content for e in (await registry.read_transcript(A, worker_id)).items] == [content, content]
