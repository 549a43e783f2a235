"""The per-runtime live fan-out: one subscription, each event rendered once, every stream in order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from registry_core.errors import RuntimeUnavailable
from registry_core.live import LiveSubscription
from registry_core.models import Event
from runtime_registry.server.live_fanout import LiveFanout, LiveFanouts

WHEN = datetime(2026, 12, 7, tzinfo=UTC)


def delta(after: int, text: str) -> Event:
    return Event(after, "worker.output_delta", "w", {"turn": 1, "text": text}, WHEN)


def texts(chunk: bytes) -> list[str]:
    return [line.split('"text":"')[1].split('"')[0] for line in chunk.decode().splitlines() if line.startswith("data:")]


async def test_every_reader_gets_each_frame_in_order_rendered_once():
    source = LiveSubscription()
    fanout = LiveFanout(source, "rt", batch_seconds=0)
    readers = [fanout.open() for _ in range(3)]
    for number in range(5):
        source.push(delta(10, str(number)))
    await asyncio.wait_for(readers[0].changed(), 1)
    chunks = [reader.take(up_to=10) for reader in readers]
    assert texts(chunks[0]) == ["0", "1", "2", "3", "4"]
    assert chunks[1] is chunks[0] and chunks[2] is chunks[0]  # joined once for readers at the same place
    assert not any(reader.pending() for reader in readers)
    for reader in readers:
        reader.close()


async def test_a_frame_waits_until_the_stored_event_it_follows_was_sent():
    source = LiveSubscription()
    fanout = LiveFanout(source, "rt", batch_seconds=0)
    reader = fanout.open()
    fanout.add([delta(5, "a"), delta(7, "b"), delta(9, "c")])
    assert texts(reader.take(up_to=4)) == []
    assert texts(reader.take(up_to=7)) == ["a", "b"]
    assert reader.pending()
    assert texts(reader.take(up_to=9)) == ["c"]
    reader.close()


async def test_a_reader_sees_only_what_was_published_after_it_opened():
    source = LiveSubscription()
    fanout = LiveFanout(source, "rt", batch_seconds=0)
    early = fanout.open()
    fanout.add([delta(1, "before")])
    late = fanout.open()
    fanout.add([delta(1, "after")])
    assert texts(early.take(up_to=1)) == ["before", "after"]
    assert texts(late.take(up_to=1)) == ["after"]
    early.close()
    late.close()


async def test_a_reader_that_falls_a_ring_behind_loses_the_oldest_and_counts_them():
    fanout = LiveFanout(LiveSubscription(), "rt", batch_seconds=0, ring_size=4)
    reader = fanout.open()
    fanout.add([delta(1, str(n)) for n in range(10)])
    assert texts(reader.take(up_to=1)) == ["6", "7", "8", "9"]
    assert reader.dropped == 6
    reader.close()


async def test_a_malformed_live_event_fails_the_streams_that_reach_it():
    fanout = LiveFanout(LiveSubscription(), "rt", batch_seconds=0)
    reader = fanout.open()
    fanout.add([delta(1, "ok"), Event(1, "worker.output_delta", "w", {"x": float("nan")}, WHEN)])
    with pytest.raises(RuntimeUnavailable):
        reader.take(up_to=1)
    reader.close()


async def test_the_last_reader_closes_the_subscription_and_the_next_stream_opens_a_new_one():
    opened: list[LiveSubscription] = []

    def subscribe(runtime_id: str) -> LiveSubscription:
        opened.append(LiveSubscription())
        return opened[-1]

    fanouts = LiveFanouts(subscribe, batch_seconds=0)
    first, second = fanouts.open("rt"), fanouts.open("rt")
    assert len(opened) == 1
    first.close()
    first.close()  # idempotent
    assert not opened[0].closed
    second.close()
    assert opened[0].closed
    third = fanouts.open("rt")
    assert len(opened) == 2 and not opened[1].closed
    opened[1].push(delta(1, "x"))
    await asyncio.wait_for(third.changed(), 1)
    assert texts(third.take(up_to=1)) == ["x"]
    third.close()


async def test_a_runtime_that_closed_its_subscription_gets_a_new_fan_out():
    opened: list[LiveSubscription] = []

    def subscribe(runtime_id: str) -> LiveSubscription:
        opened.append(LiveSubscription())
        return opened[-1]

    fanouts = LiveFanouts(subscribe, batch_seconds=0)
    stale = fanouts.open("rt")
    opened[0].close()  # the runtime closed (restart, stop)
    fresh = fanouts.open("rt")
    assert len(opened) == 2
    stale.close()
    opened[1].push(delta(1, "y"))
    await asyncio.wait_for(fresh.changed(), 1)
    assert texts(fresh.take(up_to=1)) == ["y"]
    fresh.close()
    assert opened[1].closed


async def test_a_runtime_without_live_events_gets_no_reader():
    assert LiveFanouts(lambda runtime_id: None).open("rt") is None


async def test_the_batch_wait_gathers_a_moments_events_into_one_wake():
    source = LiveSubscription()
    fanout = LiveFanout(source, "rt", batch_seconds=0.05)
    reader = fanout.open()
    source.push(delta(1, "a"))
    await asyncio.sleep(0.01)
    source.push(delta(1, "b"))
    await asyncio.wait_for(reader.changed(), 1)
    assert texts(reader.take(up_to=1)) == ["a", "b"]
    reader.close()


async def test_a_live_event_still_in_the_batch_wait_goes_out_before_a_later_stored_event():
    source = LiveSubscription()
    fanout = LiveFanout(source, "rt", batch_seconds=10)  # the task would hold it for 10 s
    reader = fanout.open()
    await asyncio.sleep(0)
    source.push(delta(5, "early"))
    # The stream is about to send stored event 6: it asks first, and gets the delta now.
    assert reader.pending()
    assert texts(reader.take(up_to=5)) == ["early"]
    reader.close()


async def test_the_batch_wait_grows_with_readers_up_to_a_bound():
    fanout = LiveFanout(LiveSubscription(), "rt")
    readers = [fanout.open()]
    assert fanout.batch_wait() == pytest.approx(0.01)
    readers += [fanout.open() for _ in range(39)]
    assert fanout.batch_wait() == pytest.approx(0.01)
    readers += [fanout.open() for _ in range(20)]
    assert fanout.batch_wait() == pytest.approx(0.015)
    readers += [fanout.open() for _ in range(140)]
    assert fanout.batch_wait() == pytest.approx(0.025)
    for reader in readers:
        reader.close()
