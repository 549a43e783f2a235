"""Admission through the real HTTP server (issue 21, decision 0191): ``max_concurrent_turns``.

A ``runtime-registry serve`` process with ``max_concurrent_turns = 3``: inputs
beyond it are accepted as ``queued`` (``worker.input_queued``, ``reason:
"admission"``), start first come first served across workers as turns end,
never more than three turns run at once, the busy rule's answers do not
change, and ``/metrics`` shows the slots. A second server on a SQLite file
is killed with a worker waiting for a slot: the next run drops its input
with an event and interrupts no turn of it.
"""

from __future__ import annotations

import asyncio
import collections
import re
import signal

import pytest

from ..support.server_process import running_server
from .api_pages import all_events
from .app_config import EMBEDDED, SLOW_PROFILE, embedded_toml, write_config
from .load_client import LoadClient
from .test_turn_control import contract_problems, of_type, send, until_idle

RUNTIME = f"/api/runtimes/{EMBEDDED}"
SLOTS = 3
QUICK = "quick"
QUICK_PROFILE = f'[runtimes.settings.profiles.{QUICK}]\nbase = "builtin:echo"\nreply_delay_seconds = 0.3\n'


def admission_toml(store: str = "") -> str:
    return embedded_toml(
        slow_delay_seconds=30.0, settings=f"max_concurrent_turns = {SLOTS}\n", extra=QUICK_PROFILE + store
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("admission")
    with running_server(write_config(directory, admission_toml()), log=directory / "server.log") as served:
        yield served


async def create_workers(api: LoadClient, count: int, profile: str) -> list[str]:
    replies = await asyncio.gather(*(api.post(f"{RUNTIME}/workers", {"profile": profile}) for _ in range(count)))
    assert {reply.status for reply in replies} == {201}
    return [reply.json()["worker_id"] for reply in replies]


async def events_of(api: LoadClient, worker_ids: list[str]) -> list[dict]:
    events, _ = await all_events(api, EMBEDDED)
    chosen = set(worker_ids)
    return [event for event in events if event["worker_id"] in chosen]


def most_running(events: list[dict]) -> int:
    """The most turns of ``events`` running at once, replaying their starts and ends in id order."""
    running = most = 0
    for event in events:
        if event["type"] == "worker.turn_started":
            running += 1
            most = max(most, running)
        elif event["type"] in ("worker.turn_completed", "worker.turn_cancelled", "worker.turn_failed"):
            running -= 1
    return most


async def stop_all(api: LoadClient, worker_ids: list[str]) -> None:
    await asyncio.gather(*(api.post(f"{RUNTIME}/workers/{w}/stop") for w in worker_ids))


async def test_inputs_beyond_the_slots_wait_and_start_first_come_first_served(server):
    async with LoadClient(server.base_url, connections=16) as api:
        workers = await create_workers(api, 12, QUICK)
        replies = await asyncio.gather(*(send(api, w, f"from {w}") for w in workers))
        statuses = collections.Counter(r.json()["status"] for r in replies)
        assert statuses == {"busy": SLOTS, "queued": 12 - SLOTS}, [r.body for r in replies]
        queued = [r.json() for r in replies if r.json()["status"] == "queued"]
        assert sorted(q["queue_position"] for q in queued) == list(range(1, 12 - SLOTS + 1))
        assert all(q["transcript_sequence"] is None for q in queued)
        for worker_id in workers:
            await until_idle(api, worker_id)
        events = await events_of(api, workers)
        announced = of_type(events, "worker.input_queued")
        assert {e["data"]["reason"] for e in announced} == {"admission"}
        assert [e["id"] for e in announced] == sorted(q["event_id"] for q in queued)
        # Admitted in the order they queued: the starts name their queued events in increasing order.
        started_from_line = [
            e["data"]["queued_event_id"]
            for e in of_type(events, "worker.input_accepted")
            if "queued_event_id" in e["data"]
        ]
        assert started_from_line == [e["id"] for e in announced]
        assert most_running(events) == SLOTS
        assert len(of_type(events, "worker.turn_completed")) == 12
        for worker_id in workers:
            assert contract_problems([e for e in events if e["worker_id"] == worker_id], finished=True) == []


async def test_the_busy_rule_answers_do_not_change_while_inputs_wait_for_a_slot(server):
    async with LoadClient(server.base_url, connections=100) as api:
        holders = await create_workers(api, SLOTS, SLOW_PROFILE)
        for worker_id in holders:
            assert (await send(api, worker_id, "hold")).json()["status"] == "busy"
        (waiter,) = await create_workers(api, 1, SLOW_PROFILE)
        replies = await asyncio.gather(*(send(api, waiter, f"r{i}") for i in range(100)))
        outcomes = collections.Counter((r.status, r.error_code) for r in replies)
        assert outcomes == {(202, None): 1, (409, "worker_busy"): 99}
        accepted = next(r.json() for r in replies if r.status == 202)
        assert (accepted["status"], accepted["queue_position"]) == ("queued", 1)
        worker = (await api.get(f"{RUNTIME}/workers/{waiter}")).json()
        assert (worker["status"], worker["transcript_length"]) == ("busy", 0)
        # Cancelling a worker that waits for a slot drops its input; no turn of it was running.
        cancelled = await api.post(f"{RUNTIME}/workers/{waiter}/cancel")
        assert (cancelled.json()["changed"], cancelled.json()["status"]) == (True, "idle")
        events = await events_of(api, [waiter])
        dropped = of_type(events, "worker.input_dropped")
        assert [(e["data"]["queued_event_id"], e["data"]["reason"]) for e in dropped] == [
            (accepted["event_id"], "cancel")
        ]
        assert not of_type(events, "worker.turn_started") and not of_type(events, "worker.turn_cancelled")
        # Stopping a running worker hands its slot to the next one in line.
        again = await send(api, waiter, "second try")
        assert again.json()["status"] == "queued"
        await api.post(f"{RUNTIME}/workers/{holders[0]}/stop")
        events = await events_of(api, [waiter])
        assert [e["data"].get("queued_event_id") for e in of_type(events, "worker.input_accepted")] == [
            again.json()["event_id"]
        ]
        assert (await api.get(f"{RUNTIME}/workers/{waiter}")).json()["transcript_length"] == 1
        metrics = (await api.get("/metrics")).body.decode()
        assert re.search(rf'runtime_registry_turns_running{{runtime="{EMBEDDED}"}} {float(SLOTS)}', metrics)
        assert re.search(rf'runtime_registry_turn_slots{{runtime="{EMBEDDED}"}} {float(SLOTS)}', metrics)
        assert re.search(r'runtime_registry_inputs_waiting\{[^}]*reason="admission"[^}]*\} 0\.0', metrics)
        await stop_all(api, [*holders, waiter])


async def test_a_workers_own_queue_waits_behind_other_workers_for_a_slot(server):
    async with LoadClient(server.base_url, connections=8) as api:
        holders = await create_workers(api, SLOTS - 1, SLOW_PROFILE)
        for worker_id in holders:
            await send(api, worker_id, "hold")
        busy, other = await create_workers(api, 2, QUICK)
        assert (await send(api, busy, "first")).json()["status"] == "busy"
        for n in range(3):
            assert (await send(api, busy, f"next {n}", "enqueue")).json()["status"] == "queued"
        waiting = await send(api, other, "other")
        assert (waiting.json()["status"], waiting.json()["queue_position"]) == ("queued", 1)
        await until_idle(api, busy)
        await until_idle(api, other)
        events = await events_of(api, [busy, other])
        starts = [(e["worker_id"], e["data"]["turn"]) for e in of_type(events, "worker.turn_started")]
        # The other worker got the slot the busy worker's first turn freed, before the busy worker's queue.
        assert starts == [(busy, 1), (other, 1), (busy, 2), (busy, 3), (busy, 4)]
        assert most_running([*events, *await events_of(api, holders)]) <= SLOTS
        await stop_all(api, [*holders, busy, other])


async def test_a_worker_waiting_for_a_slot_at_a_crash_comes_back_idle_and_its_input_dropped(tmp_path):
    config = write_config(tmp_path, admission_toml('[runtimes.settings.store]\nbackend = "sqlite"\n'))
    with running_server(config, log=tmp_path / "first.log") as first:
        async with LoadClient(first.base_url, connections=4) as api:
            holders = await create_workers(api, SLOTS, SLOW_PROFILE)
            for worker_id in holders:
                await send(api, worker_id, "hold")
            (waiter,) = await create_workers(api, 1, SLOW_PROFILE)
            queued = (await send(api, waiter, "waits")).json()
            assert queued["status"] == "queued"
        first.signal(signal.SIGKILL)
        first.wait(10)
    with running_server(config, log=tmp_path / "second.log") as second:
        async with LoadClient(second.base_url, connections=4) as api:
            events = await events_of(api, [waiter, *holders])
            worker = (await api.get(f"{RUNTIME}/workers/{waiter}")).json()
            after = await send(api, waiter, "after the restart")
    mine = [e for e in events if e["worker_id"] == waiter]
    assert (worker["status"], worker["transcript_length"]) == ("idle", 0)
    assert [(e["type"], e["data"].get("reason")) for e in mine[1:]] == [
        ("worker.input_queued", "admission"),
        ("worker.input_dropped", "restart"),
    ]
    assert len(of_type(events, "worker.turn_interrupted")) == SLOTS
    assert contract_problems(mine, finished=True) == []
    assert after.json()["status"] == "busy"
