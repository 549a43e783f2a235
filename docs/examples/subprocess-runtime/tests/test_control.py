"""Busy, cancel, stop and shutdown: a running command is refused company, and killed with its children."""

from __future__ import annotations

import asyncio

import pytest
from processes import SLEEPER, ends_soon, process_is_running, python_command, read_pids, requires_proc, wait_until_idle

from registry_core import CreateWorkerRequest, InputRequest, WorkerBusy, WorkerStopped


async def start_sleeping_turn(start_provider, pid_file):
    """A provider and a worker whose command (and its child) sleep until killed."""
    provider = await start_provider(python_command(SLEEPER, str(pid_file)))
    worker = await provider.create_worker(CreateWorkerRequest())
    await provider.send_input(worker.worker_id, InputRequest("sleep"))
    pids = await read_pids(pid_file)
    return provider, worker.worker_id, pids


async def event_types(provider, worker_id):
    return [e.type for e in (await provider.read_events(cursor=None, limit=100, worker_id=worker_id)).events]


async def test_input_while_the_command_runs_is_refused_as_busy(start_provider, pid_file):
    provider, worker_id, _ = await start_sleeping_turn(start_provider, pid_file)
    with pytest.raises(WorkerBusy):
        await provider.send_input(worker_id, InputRequest("again"))
    assert (await provider.read_transcript(worker_id, start=1, limit=10)).total == 1, "nothing was queued"


async def test_concurrent_inputs_start_exactly_one_turn(start_provider, pid_file):
    provider = await start_provider(python_command(SLEEPER, str(pid_file)))
    worker = await provider.create_worker(CreateWorkerRequest())
    results = await asyncio.gather(
        *(provider.send_input(worker.worker_id, InputRequest(f"n{i}")) for i in range(5)), return_exceptions=True
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, WorkerBusy) for r in results if isinstance(r, BaseException))


@requires_proc
async def test_cancel_kills_the_command_and_its_children(start_provider, pid_file):
    provider, worker_id, (command_pid, child_pid) = await start_sleeping_turn(start_provider, pid_file)
    async with asyncio.timeout(5):
        result = await provider.cancel_worker(worker_id)
    assert (result.action, result.changed, result.status) == ("cancel", True, "idle")
    assert not process_is_running(command_pid)
    assert await ends_soon(child_pid)


async def test_a_cancelled_worker_takes_input_again(start_provider, pid_file):
    provider, worker_id, _ = await start_sleeping_turn(start_provider, pid_file)
    await provider.cancel_worker(worker_id)
    pid_file.unlink()
    await provider.send_input(worker_id, InputRequest("once more"))
    await read_pids(pid_file)
    assert (await provider.get_worker(worker_id)).status == "busy"


async def test_cancel_is_recorded_in_transcript_and_events(start_provider, pid_file):
    provider, worker_id, _ = await start_sleeping_turn(start_provider, pid_file)
    await provider.cancel_worker(worker_id)
    page = await provider.read_transcript(worker_id, start=1, limit=10)
    assert [(e.role, e.content) for e in page.items][-1] == ("system", "the turn was cancelled; its command was killed")
    assert (await event_types(provider, worker_id))[-1] == "worker.turn_cancelled"


async def test_cancel_while_idle_changes_nothing(start_provider):
    provider = await start_provider()
    worker = await provider.create_worker(CreateWorkerRequest())
    result = await provider.cancel_worker(worker.worker_id)
    assert (result.changed, result.status) == (False, "idle")
    assert await event_types(provider, worker.worker_id) == ["worker.created"]


async def test_two_cancels_at_once_report_one_change(start_provider, pid_file):
    provider, worker_id, _ = await start_sleeping_turn(start_provider, pid_file)
    first, second = await asyncio.gather(provider.cancel_worker(worker_id), provider.cancel_worker(worker_id))
    assert sorted([first.changed, second.changed]) == [False, True]
    assert (await event_types(provider, worker_id)).count("worker.turn_cancelled") == 1


@requires_proc
async def test_stop_kills_the_running_command_and_stops_the_worker_for_good(start_provider, pid_file):
    provider, worker_id, (command_pid, child_pid) = await start_sleeping_turn(start_provider, pid_file)
    result = await provider.stop_worker(worker_id)
    assert (result.action, result.changed, result.status) == ("stop", True, "stopped")
    assert not process_is_running(command_pid)
    assert await ends_soon(child_pid)
    assert (await event_types(provider, worker_id))[-2:] == ["worker.turn_cancelled", "worker.stopped"]


async def test_a_stopped_worker_refuses_input_and_cancel(start_provider):
    provider = await start_provider()
    worker = await provider.create_worker(CreateWorkerRequest())
    await provider.stop_worker(worker.worker_id)
    with pytest.raises(WorkerStopped):
        await provider.send_input(worker.worker_id, InputRequest("late"))
    with pytest.raises(WorkerStopped):
        await provider.cancel_worker(worker.worker_id)


async def test_stop_is_idempotent(start_provider):
    provider = await start_provider()
    worker = await provider.create_worker(CreateWorkerRequest())
    await provider.stop_worker(worker.worker_id)
    again = await provider.stop_worker(worker.worker_id)
    assert (again.changed, again.status) == (False, "stopped")
    assert (await event_types(provider, worker.worker_id)).count("worker.stopped") == 1


async def test_a_stopped_worker_keeps_its_transcript(start_provider):
    provider = await start_provider()
    worker = await provider.create_worker(CreateWorkerRequest())
    await provider.send_input(worker.worker_id, InputRequest("keep me"))
    await wait_until_idle(provider, worker.worker_id)
    await provider.stop_worker(worker.worker_id)
    assert (await provider.read_transcript(worker.worker_id, start=1, limit=10)).items[0].content == "keep me"
    assert (await provider.get_worker(worker.worker_id)).status == "stopped"


@requires_proc
async def test_close_kills_every_running_command(start_provider, pid_file):
    provider, _, (command_pid, child_pid) = await start_sleeping_turn(start_provider, pid_file)
    await provider.close()
    assert not process_is_running(command_pid)
    assert await ends_soon(child_pid)
