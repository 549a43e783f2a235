"""The SQLite store across restarts: what comes back, what continues, what a turn in flight becomes."""

from __future__ import annotations

import sqlite3

import pytest

from registry_core import HostExtensions, RuntimeContext, Turn, TurnEngine, TurnResult
from registry_core.errors import CursorExpired, UnknownWorker
from registry_core.models import CapabilityName
from runtime_registry.engines.clock import CLOCK
from runtime_registry.plugins.embedded import EmbeddedProvider
from runtime_registry.runtimes.embedded import ProfileSettings
from runtime_registry.runtimes.embedded.builtin_engines import BUILTIN_ENGINES
from runtime_registry.runtimes.embedded.settings import Durability
from tests.embedded.durable import (
    RUNTIME,
    all_events,
    create,
    durable_settings,
    send,
    started,
    store_file,
    transcript,
    until_idle,
)


async def test_workers_transcripts_and_statuses_come_back(tmp_path):
    first = await started(tmp_path)
    echo = await create(first, "echo-now", label="echo")
    stopped = await create(first)
    await send(first, echo, "ping")
    await until_idle(first, echo)
    await first.stop_worker(stopped)
    before = {w.worker_id: w for w in (await first.list_workers(limit=10, cursor=None)).items}
    entries = await transcript(first, echo)
    await first.close()

    second = await started(tmp_path)
    after = {w.worker_id: w for w in (await second.list_workers(limit=10, cursor=None)).items}
    assert after == before
    assert after[stopped].status == "stopped" and after[echo].label == "echo"
    assert await transcript(second, echo) == entries
    assert [(e.role, e.content) for e in entries] == [("user", "ping"), ("assistant", "ping")]
    await second.close()


async def test_a_deleted_worker_stays_deleted_and_no_id_is_issued_twice(tmp_path):
    first = await started(tmp_path)
    gone = await create(first)
    kept = await create(first)
    await first.delete_worker(gone)
    await first.close()

    second = await started(tmp_path)
    with pytest.raises(UnknownWorker):
        await second.get_worker(gone)
    fresh = {await create(second) for _ in range(5)}
    assert not fresh & {gone, kept}
    listed = [w.worker_id for w in (await second.list_workers(limit=10, cursor=None)).items]
    assert listed == [kept, *sorted(fresh, key=listed.index)]
    await second.close()


async def test_event_ids_continue_and_an_old_cursor_resumes_without_a_gap(tmp_path):
    first = await started(tmp_path)
    worker = await create(first)
    events, cursor = await all_events(first)
    await first.close()

    second = await started(tmp_path)
    await send(second, worker, "after the restart")
    resumed, _ = await all_events(second, cursor)
    assert [e.type for e in resumed][:2] == ["worker.input_accepted", "worker.turn_started"]
    assert resumed[0].id == cursor + 1  # no gap: the next id after the last one a client saw
    retained, _ = await all_events(second)
    assert retained[: len(events)] == events
    ids = [e.id for e in retained]
    assert ids == sorted(set(ids))
    # cursor=0 still means "before this runtime's first event", which is retained.
    assert (await second.read_events(cursor=0, limit=1)).events[0] == events[0]
    await second.close()


def _as_if_crashed(tmp_path) -> None:
    # A run that ended without closing leaves the marker at 0 (the real-process
    # SIGKILL tests in tests/reliability/test_durable_process.py do it for real).
    with sqlite3.connect(store_file(tmp_path)) as connection:
        connection.execute("UPDATE meta SET value = 0 WHERE key = 'closed_cleanly'")
    connection.close()


async def test_after_a_crash_in_acknowledged_mode_events_stay_and_old_cursors_resume(tmp_path):
    first = await started(tmp_path)
    worker = await create(first)
    events, _cursor = await all_events(first)
    middle = events[0].id  # a cursor from before the crash, with events after it
    await send(first, worker)
    await until_idle(first, worker)
    later, _ = await all_events(first, middle)
    await first.close()
    _as_if_crashed(tmp_path)

    second = await started(tmp_path)
    assert (await second.get_worker(worker)).worker_id == worker  # workers and transcripts come back
    kept, last = await all_events(second)
    seen = events + later
    assert kept[: len(seen)] == seen  # every event a reader saw is still there
    resumed, _ = await all_events(second, middle)
    assert resumed[: len(later)] == later  # an old cursor resumes: no gap, no repeat
    assert (await second.read_events(cursor=0, limit=1)).events[0] == events[0]  # cursor=0 keeps its meaning
    newer = await create(second)
    fresh, _ = await all_events(second, last)
    assert fresh[0].id == last + 1 and fresh[0].worker_id == newer  # ids continue from the file
    assert newer > worker  # worker ids (their serials) moved up past anything the crashed run could issue
    await second.close()


async def test_after_a_crash_in_batched_mode_no_event_or_worker_id_is_issued_again(tmp_path):
    settings = durable_settings(Durability.BATCHED)
    first = await started(tmp_path, settings)
    worker = await create(first)
    _events, cursor = await all_events(first)
    await first.close()
    _as_if_crashed(tmp_path)

    second = await started(tmp_path, settings)
    assert (await second.get_worker(worker)).worker_id == worker  # workers and transcripts come back
    assert (await second.read_events(cursor=None, limit=10)).events == ()  # the event window starts over
    with pytest.raises(CursorExpired):
        await second.read_events(cursor=cursor, limit=1)  # an old cursor is told so, never resumed in new ids
    newer = await create(second)
    fresh, _ = await all_events(second)
    assert fresh[0].id > cursor + 1 and fresh[0].worker_id == newer
    assert newer > worker  # worker ids (their serials) moved up past anything the crashed run could issue
    await second.close()

    third = await started(tmp_path, settings)  # a clean close again: ids continue from here
    assert [e.id for e in (await all_events(third))[0]] == [e.id for e in fresh]
    await third.close()


async def test_a_list_cursor_stays_valid_across_a_restart(tmp_path):
    first = await started(tmp_path)
    workers = [await create(first) for _ in range(5)]
    page = await first.list_workers(limit=2, cursor=None)
    await first.close()

    second = await started(tmp_path)
    rest = await second.list_workers(limit=10, cursor=page.next_cursor)
    assert [w.worker_id for w in rest.items] == workers[2:]
    await second.close()


@pytest.mark.parametrize("durability", list(Durability))
async def test_a_turn_in_flight_comes_back_idle_and_interrupted(tmp_path, durability):
    first = await started(tmp_path, durable_settings(durability))
    worker = await create(first, "hold")
    await send(first, worker, "never answered")
    assert (await first.get_worker(worker)).status == "busy"
    await first.close()

    second = await started(tmp_path, durable_settings(durability))
    assert (await second.get_worker(worker)).status == "idle"
    events, _ = await all_events(second)
    assert events[-1].type == "worker.turn_interrupted"
    assert dict(events[-1].data) == {"turn": 1, "reason": "restart"}
    assert "worker.turn_cancelled" not in [e.type for e in events]
    assert [(e.role, e.content) for e in await transcript(second, worker)] == [("user", "never answered")]
    await send(second, worker, "usable again")  # idle: takes input; turn numbers continue
    events, _ = await all_events(second)
    assert [dict(e.data) for e in events if e.type == "worker.turn_started"][-1] == {"turn": 2}
    await second.close()

    third = await started(tmp_path, durable_settings(durability))
    interrupted = [e for e in (await all_events(third))[0] if e.type == "worker.turn_interrupted"]
    assert len(interrupted) == 2  # the second run's turn was in flight at its close too
    await third.close()


async def test_transcript_pages_read_committed_entries_and_the_uncommitted_tail(tmp_path):
    provider = await started(tmp_path, durable_settings(Durability.BATCHED))
    worker = await create(provider, "echo-now")
    for number in range(30):
        await send(provider, worker, f"m{number}")
        await until_idle(provider, worker)
    # Some entries are committed, the newest are probably not yet: every page is gapless either way.
    for limit in (1, 7, 60):
        entries = await transcript(provider, worker, limit=limit)
        assert [e.sequence for e in entries] == list(range(1, 61))
        assert [e.content for e in entries][::2] == [f"m{n}" for n in range(30)]
    await provider.close()
    reopened = await started(tmp_path, durable_settings(Durability.BATCHED))
    assert [e.sequence for e in await transcript(reopened, worker)] == list(range(1, 61))
    await reopened.close()


async def test_memory_holds_no_committed_transcript_entries(tmp_path):
    provider = await started(tmp_path)
    worker = await create(provider, "echo-now")
    for number in range(20):
        await send(provider, worker, f"m{number}")
        await until_idle(provider, worker)
    await provider.close()
    reopened = await started(tmp_path)
    record = reopened.runtime.get_worker(worker)
    assert len(record.transcript) == 40
    assert record.transcript._pending == []  # everything is read from the file
    await reopened.close()


async def test_the_file_keeps_only_the_retained_events(tmp_path):
    settings = durable_settings(event_retention=10)
    provider = await started(tmp_path, settings)
    worker = await create(provider, "echo-now")
    for _ in range(10):
        await send(provider, worker)
        await until_idle(provider, worker)
    last = (await all_events(provider))[0][-1].id
    await provider.close()
    with sqlite3.connect(store_file(tmp_path)) as connection:
        ids = [row[0] for row in connection.execute("SELECT id FROM events ORDER BY id")]
    connection.close()
    # The newest events a reader saw are there (later ones, committed at close, too).
    assert ids == list(range(ids[-1] - 9, ids[-1] + 1)) and last in ids
    reopened = await started(tmp_path, settings)
    events, _ = await all_events(reopened)
    assert [e.id for e in events] == ids
    await reopened.close()


async def test_a_worker_whose_profile_was_removed_comes_back_with_the_default(tmp_path):
    first = await started(tmp_path)
    worker = await create(first, "echo-now")
    await first.close()
    second = await started(tmp_path, durable_settings(profiles={}))
    assert (await second.get_worker(worker)).profile == "builtin:default"
    await send(second, worker)
    await second.close()


async def test_batched_answers_before_commit_and_close_commits_everything(tmp_path):
    provider = await started(tmp_path, durable_settings(Durability.BATCHED))
    workers = [await create(provider) for _ in range(20)]
    for worker in workers:
        await send(provider, worker)
    await provider.close()
    reopened = await started(tmp_path, durable_settings(Durability.BATCHED))
    assert [w.worker_id for w in (await reopened.list_workers(limit=50, cursor=None)).items] == workers
    assert [len(await transcript(reopened, w)) for w in workers] == [1] * len(workers)
    await reopened.close()


async def test_granted_tools_come_back_as_the_profile_still_grants_them(tmp_path):
    async def reply(turn: Turn) -> TurnResult:
        return TurnResult("done")

    engine = TurnEngine("tool-user", reply)
    extensions = HostExtensions(engines={**BUILTIN_ENGINES, engine.name: engine}, tools={"clock": CLOCK})

    def provider_with(tools: list[str]) -> EmbeddedProvider:
        settings = durable_settings(profiles={"helper": ProfileSettings(engine=engine.name, tools=tools)})
        return EmbeddedProvider(RUNTIME, settings, context=RuntimeContext(tmp_path), extensions=extensions)

    first = provider_with(["clock"])
    await first.start()
    granted = await create(first, "helper", capabilities=[CapabilityName("tool:clock")])
    plain = await create(first, "helper")
    await first.close()

    second = provider_with(["clock"])
    await second.start()
    assert [tool.name for tool in second.runtime.get_worker(granted).tools] == ["clock"]
    assert second.runtime.get_worker(plain).tools == ()
    await second.close()

    third = provider_with([])  # the operator took the tool away from the profile: it is not granted again
    await third.start()
    assert third.runtime.get_worker(granted).tools == ()
    await third.close()
