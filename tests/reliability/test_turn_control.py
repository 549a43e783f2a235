"""Turn control through the real HTTP server (issue 21, decision 0190): ``if_busy`` under concurrency,
the queue's bound, cancel/stop/delete with a queue, and queued inputs across a restart.

One ``runtime-registry serve`` process on a free loopback port serves the
module (the restart test runs its own, on a SQLite file). Each test makes its
own workers. 100 racing inputs per policy must give exactly the outcome
docs/api.md states:

- ``reject``: one ``202``, 99 ``409 worker_busy``;
- ``interrupt``: 100 ``202`` (``busy``); each ends the turn before it, so 100
  turns end ``worker.turn_cancelled`` (``reason: "interrupt"``) and only the
  last input's turn runs on; turns never overlap;
- ``enqueue``: ``max_queued_inputs`` ``202`` (``queued``, places 1..N), the
  rest ``409 queue_full``; the queued ones start in their places' order.
"""

from __future__ import annotations

import asyncio
import collections
import signal

import pytest

from registry_core.event_contract import order_problems
from registry_core.models import Event

from ..support.server_process import running_server
from .api_pages import all_events, whole_transcript
from .app_config import EMBEDDED, SLOW_PROFILE, embedded_toml, write_config
from .load_client import LoadClient

RUNTIME = f"/api/runtimes/{EMBEDDED}"
MAX_QUEUED = 8
RACERS = 100
#: A profile whose turns end by themselves soon (the queue drains while the test waits).
QUICK = "quick"
QUICK_PROFILE = f'[runtimes.settings.profiles.{QUICK}]\nbase = "builtin:echo"\nreply_delay_seconds = 0.2\n'


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("turn-control")
    text = embedded_toml(slow_delay_seconds=30.0, settings=f"max_queued_inputs = {MAX_QUEUED}\n", extra=QUICK_PROFILE)
    with running_server(write_config(directory, text), log=directory / "server.log") as served:
        yield served


async def create_worker(api: LoadClient, profile: str = SLOW_PROFILE) -> str:
    response = await api.post(f"{RUNTIME}/workers", {"profile": profile})
    assert response.status == 201, response.body
    return response.json()["worker_id"]


async def send(api: LoadClient, worker_id: str, content: str, if_busy: str | None = None):
    body = {"content": content} | ({"if_busy": if_busy} if if_busy else {})
    return await api.post(f"{RUNTIME}/workers/{worker_id}/input", body)


async def busy_worker(api: LoadClient, profile: str = SLOW_PROFILE) -> str:
    worker_id = await create_worker(api, profile)
    first = await send(api, worker_id, "first")
    assert first.status == 202 and first.json()["status"] == "busy", first.body
    return worker_id


async def worker_events(api: LoadClient, worker_id: str) -> list[dict]:
    events, _ = await all_events(api, EMBEDDED)
    return [event for event in events if event["worker_id"] == worker_id]


async def until_idle(api: LoadClient, worker_id: str, timeout: float = 30.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if (await api.get(f"{RUNTIME}/workers/{worker_id}")).json()["status"] == "idle":
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the worker stayed busy")


def of_type(events: list[dict], kind: str) -> list[dict]:
    return [event for event in events if event["type"] == kind]


def contract_problems(events: list[dict], *, finished: bool) -> list[str]:
    return order_problems(
        (Event(e["id"], e["type"], e["worker_id"], e["data"], e["created_at"]) for e in events), finished=finished
    )


async def test_the_runtime_says_which_policies_it_takes(server):
    async with LoadClient(server.base_url, connections=2) as api:
        summary = (await api.get(RUNTIME)).json()
    assert summary["capabilities"]["busy_policies"] == ["reject", "enqueue", "interrupt"]


async def test_100_racing_rejects_one_wins_nothing_queued(server):
    async with LoadClient(server.base_url, connections=RACERS) as api:
        worker_id = await create_worker(api)
        replies = await asyncio.gather(*(send(api, worker_id, f"r{i}", "reject") for i in range(RACERS)))
        outcomes = collections.Counter((r.status, r.error_code) for r in replies)
        assert outcomes == {(202, None): 1, (409, "worker_busy"): RACERS - 1}
        events = await worker_events(api, worker_id)
        assert not of_type(events, "worker.input_queued")
        assert len(await whole_transcript(api, EMBEDDED, worker_id)) == 1
        await api.post(f"{RUNTIME}/workers/{worker_id}/stop")


async def test_100_racing_interrupts_each_end_the_turn_before_and_the_last_runs_on(server):
    async with LoadClient(server.base_url, connections=RACERS) as api:
        worker_id = await busy_worker(api)
        replies = await asyncio.gather(*(send(api, worker_id, f"i{i}", "interrupt") for i in range(RACERS)))
        assert collections.Counter(r.status for r in replies) == {202: RACERS}, [r.body for r in replies[:3]]
        bodies = [r.json() for r in replies]
        assert {b["status"] for b in bodies} == {"busy"}
        assert sorted(b["transcript_sequence"] for b in bodies) == list(range(2, RACERS + 2))
        events = await worker_events(api, worker_id)
        cancelled = of_type(events, "worker.turn_cancelled")
        assert [e["data"]["reason"] for e in cancelled] == ["interrupt"] * RACERS
        assert [e["data"]["turn"] for e in cancelled] == list(range(1, RACERS + 1))
        started = of_type(events, "worker.turn_started")
        assert [e["data"]["turn"] for e in started] == list(range(1, RACERS + 2))
        assert contract_problems(events, finished=False) == []
        # The transcript holds every input in the order their turns started, and no reply.
        transcript = await whole_transcript(api, EMBEDDED, worker_id)
        by_sequence = {b["transcript_sequence"]: f"i{i}" for i, b in enumerate(bodies)}
        assert [e["content"] for e in transcript] == ["first"] + [by_sequence[s] for s in range(2, RACERS + 2)]
        worker = (await api.get(f"{RUNTIME}/workers/{worker_id}")).json()
        assert worker["status"] == "busy"
        stopped = await api.post(f"{RUNTIME}/workers/{worker_id}/stop")
        assert stopped.json()["changed"] is True
        events = await worker_events(api, worker_id)
        assert of_type(events, "worker.turn_cancelled")[-1]["data"] == {"turn": RACERS + 1, "reason": "stop"}
        assert contract_problems(events, finished=True) == []


async def test_100_racing_enqueues_fill_the_queue_and_the_rest_are_queue_full(server):
    async with LoadClient(server.base_url, connections=RACERS) as api:
        worker_id = await busy_worker(api)
        replies = await asyncio.gather(*(send(api, worker_id, f"q{i}", "enqueue") for i in range(RACERS)))
        outcomes = collections.Counter((r.status, r.error_code) for r in replies)
        assert outcomes == {(202, None): MAX_QUEUED, (409, "queue_full"): RACERS - MAX_QUEUED}
        queued = {r.json()["queue_position"]: (f"q{i}", r.json()) for i, r in enumerate(replies) if r.status == 202}
        assert sorted(queued) == list(range(1, MAX_QUEUED + 1))
        assert all(body["status"] == "queued" and body["transcript_sequence"] is None for _, body in queued.values())
        # Nothing queued is in the transcript yet.
        assert [e["content"] for e in await whole_transcript(api, EMBEDDED, worker_id)] == ["first"]
        # Each cancel that keeps the queue starts the next queued input, in the order of the places.
        for _ in range(MAX_QUEUED):
            kept = await api.post(f"{RUNTIME}/workers/{worker_id}/cancel?queued=keep")
            assert kept.json() == {
                "runtime_id": EMBEDDED,
                "worker_id": worker_id,
                "action": "cancel",
                "changed": True,
                "status": "busy",
            }
        events = await worker_events(api, worker_id)
        accepted = of_type(events, "worker.input_accepted")[1:]
        assert [e["data"]["content"] for e in accepted] == [queued[p][0] for p in range(1, MAX_QUEUED + 1)]
        assert [e["data"]["queued_event_id"] for e in accepted] == [
            queued[p][1]["event_id"] for p in range(1, MAX_QUEUED + 1)
        ]
        assert [e["data"]["transcript_sequence"] for e in accepted] == list(range(2, MAX_QUEUED + 2))
        assert contract_problems(events, finished=False) == []
        await api.post(f"{RUNTIME}/workers/{worker_id}/stop")


async def test_queued_inputs_run_after_the_turns_before_them_in_order(server):
    async with LoadClient(server.base_url, connections=4) as api:
        worker_id = await busy_worker(api, QUICK)
        for n in range(3):
            reply = await send(api, worker_id, f"then-{n}", "enqueue")
            assert reply.status == 202 and reply.json()["queue_position"] == n + 1, reply.body
        # A reject while inputs wait is still refused: nothing jumps the queue.
        refused = await send(api, worker_id, "jump", "reject")
        assert refused.error_code == "worker_busy"
        await until_idle(api, worker_id)
        transcript = [(e["role"], e["content"]) for e in await whole_transcript(api, EMBEDDED, worker_id)]
        expected = []
        for text in ("first", "then-0", "then-1", "then-2"):
            expected += [("user", text), ("assistant", text)]
        assert transcript == expected
        events = await worker_events(api, worker_id)
        assert len(of_type(events, "worker.turn_completed")) == 4
        assert contract_problems(events, finished=True) == []


async def test_an_idle_worker_takes_an_enqueued_or_interrupting_input_at_once(server):
    async with LoadClient(server.base_url, connections=2) as api:
        worker_id = await create_worker(api, QUICK)
        for policy in ("enqueue", "interrupt"):
            reply = await send(api, worker_id, policy, policy)
            assert reply.status == 202 and reply.json()["status"] == "busy"
            assert reply.json()["queue_position"] is None and reply.json()["transcript_sequence"] >= 1
            await until_idle(api, worker_id)
        events = await worker_events(api, worker_id)
        assert not of_type(events, "worker.input_queued") and not of_type(events, "worker.turn_cancelled")


@pytest.mark.parametrize("action", ["cancel", "stop", "delete"])
async def test_cancel_stop_and_delete_drop_the_queue_with_an_event_per_input(server, action):
    async with LoadClient(server.base_url, connections=4) as api:
        worker_id = await busy_worker(api)
        queued = [(await send(api, worker_id, f"d{n}", "enqueue")).json()["event_id"] for n in range(3)]
        if action == "delete":
            answer = await api.request("DELETE", f"{RUNTIME}/workers/{worker_id}")
        else:
            answer = await api.post(f"{RUNTIME}/workers/{worker_id}/{action}")
        assert answer.status == 200 and answer.json()["changed"] is True
        assert answer.json()["status"] == {"cancel": "idle", "stop": "stopped", "delete": "stopped"}[action]
        events = await worker_events(api, worker_id)
        dropped = of_type(events, "worker.input_dropped")
        assert [(e["data"]["queued_event_id"], e["data"]["reason"]) for e in dropped] == [(q, action) for q in queued]
        assert of_type(events, "worker.turn_cancelled")[-1]["data"]["reason"] == action
        assert len(of_type(events, "worker.input_accepted")) == 1
        assert contract_problems(events, finished=True) == []
        if action == "cancel":
            assert [e["content"] for e in await whole_transcript(api, EMBEDDED, worker_id)] == ["first"]
            again = await send(api, worker_id, "after", "enqueue")
            assert again.json()["status"] == "busy", "the worker is usable after a cancel that dropped its queue"
            await api.post(f"{RUNTIME}/workers/{worker_id}/stop")


async def test_bad_policies_and_cancel_parameters_are_refused_by_name(server):
    async with LoadClient(server.base_url, connections=2) as api:
        worker_id = await create_worker(api)
        bad = await send(api, worker_id, "x", "later")
        assert bad.status == 422 and bad.error_code == "invalid_request"
        assert [d["path"] for d in bad.json()["error"]["details"]] == ["if_busy"]
        wrong = await api.post(f"{RUNTIME}/workers/{worker_id}/cancel?queued=maybe")
        assert wrong.status == 400 and wrong.error_code == "malformed_request"
        assert wrong.json()["error"]["details"][0]["path"] == "queued"
        assert len(await whole_transcript(api, EMBEDDED, worker_id)) == 0


async def test_queued_inputs_are_dropped_with_an_event_after_a_crash(tmp_path):
    """A real server on a SQLite file is killed with inputs queued; the next run drops each with an event."""
    text = embedded_toml(
        slow_delay_seconds=30.0,
        extra='[runtimes.settings.store]\nbackend = "sqlite"\ndurability = "acknowledged"\n',
    )
    config = write_config(tmp_path, text)
    with running_server(config, log=tmp_path / "first.log") as first:
        async with LoadClient(first.base_url, connections=2) as api:
            worker_id = await busy_worker(api)
            queued = [(await send(api, worker_id, f"k{n}", "enqueue")).json()["event_id"] for n in range(3)]
        first.signal(signal.SIGKILL)
        first.wait(10)
    with running_server(config, log=tmp_path / "second.log") as second:
        async with LoadClient(second.base_url, connections=2) as api:
            events = await worker_events(api, worker_id)
            worker = (await api.get(f"{RUNTIME}/workers/{worker_id}")).json()
            transcript = await whole_transcript(api, EMBEDDED, worker_id)
            after = await send(api, worker_id, "after the restart", "enqueue")
    assert worker["status"] == "idle"
    assert of_type(events, "worker.turn_interrupted")[-1]["data"] == {"turn": 1, "reason": "restart"}
    dropped = of_type(events, "worker.input_dropped")
    assert [(e["data"]["queued_event_id"], e["data"]["reason"]) for e in dropped] == [(q, "restart") for q in queued]
    assert [e["content"] for e in transcript] == ["first"]
    assert contract_problems(events, finished=True) == []
    assert after.status == 202 and after.json()["status"] == "busy"
