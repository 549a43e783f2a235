"""Concurrency through the real HTTP server: many clients at once, nothing lost, nothing doubled.

One uvicorn process (``runtime-registry serve`` on a free loopback port) serves
the whole module; every test makes its own workers, so the tests do not
depend on each other's state.
"""

from __future__ import annotations

import asyncio
import collections
import itertools

import pytest

from ..support.server_process import running_server
from .api_pages import all_events, whole_transcript
from .app_config import EMBEDDED, SLOW_PROFILE, embedded_toml, write_config
from .load_client import LoadClient

RUNTIME = f"/api/runtimes/{EMBEDDED}"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("concurrency")
    config = write_config(directory, embedded_toml(max_workers=2000, slow_delay_seconds=5.0))
    with running_server(config, log=directory / "server.log") as served:
        yield served


def client(server, connections: int) -> LoadClient:
    return LoadClient(server.base_url, connections=connections)


async def create_worker(api: LoadClient, profile: str | None = None) -> str:
    response = await api.post(f"{RUNTIME}/workers", {"profile": profile} if profile else {})
    assert response.status == 201, response.body
    return response.json()["worker_id"]


async def until_idle(api: LoadClient, worker_ids: list[str]) -> None:
    for _ in range(500):
        details = await asyncio.gather(*(api.get(f"{RUNTIME}/workers/{w}") for w in worker_ids))
        if all(d.json()["status"] != "busy" for d in details):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("workers stayed busy")


async def test_of_256_concurrent_inputs_to_one_idle_worker_exactly_one_is_accepted(server):
    async with client(server, 256) as api:
        worker_id = await create_worker(api, SLOW_PROFILE)
        responses = await asyncio.gather(
            *(api.post(f"{RUNTIME}/workers/{worker_id}/input", {"content": f"n{i}"}) for i in range(256))
        )
        outcomes = collections.Counter((r.status, r.error_code) for r in responses)
        assert outcomes == {(202, None): 1, (409, "worker_busy"): 255}
        accepted = next(r for r in responses if r.status == 202)
        transcript = await whole_transcript(api, EMBEDDED, worker_id)
        assert [(e["sequence"], e["content"]) for e in transcript] == [(1, f"n{responses.index(accepted)}")], (
            "a refused input reached the transcript"
        )
        await api.post(f"{RUNTIME}/workers/{worker_id}/stop")


async def test_1000_concurrent_inputs_over_100_workers_lose_and_double_nothing(server):
    async with client(server, 200) as api:
        workers = await asyncio.gather(*(create_worker(api, "echo") for _ in range(100)))
        targets = [(workers[i % 100], f"input-{i}") for i in range(1000)]
        responses = await asyncio.gather(
            *(api.post(f"{RUNTIME}/workers/{w}/input", {"content": c}) for w, c in targets)
        )
        statuses = collections.Counter((r.status, r.error_code) for r in responses)
        assert set(statuses) <= {(202, None), (409, "worker_busy")}, statuses
        accepted = collections.defaultdict(list)
        for (worker_id, content), response in zip(targets, responses, strict=False):
            if response.status == 202:
                accepted[worker_id].append(
                    (response.json()["transcript_sequence"], content, response.json()["event_id"])
                )
        assert all(accepted[w] for w in workers), "every worker accepts at least its first input"
        await until_idle(api, workers)

        events, _ = await all_events(api, EMBEDDED)
        ids = [e["id"] for e in events]
        assert ids == sorted(set(ids)), "event ids must increase strictly"
        accepted_events = {e["id"]: e for e in events if e["type"] == "worker.input_accepted"}
        # An input beyond max_concurrent_turns (64) was accepted as queued (admission, decision 0191):
        # it entered the transcript when its turn started, where its worker.input_accepted says.
        started = {e["data"]["queued_event_id"]: e for e in accepted_events.values() if "queued_event_id" in e["data"]}
        for worker_id in workers:
            accepted[worker_id] = [
                (started[event_id]["data"]["transcript_sequence"], content, started[event_id]["id"])
                if sequence is None
                else (sequence, content, event_id)
                for sequence, content, event_id in accepted[worker_id]
            ]
        for worker_id in workers:
            transcript = await whole_transcript(api, EMBEDDED, worker_id)
            assert [e["sequence"] for e in transcript] == list(range(1, len(transcript) + 1))
            inputs = [(e["sequence"], e["content"], e["event_id"]) for e in transcript if e["role"] == "user"]
            assert sorted(inputs) == sorted(accepted[worker_id]), "accepted inputs and transcript differ"
            # Each accepted input is answered by its echo, right after it.
            assert [e["content"] for e in transcript[1::2]] == [e["content"] for e in transcript[0::2]]
            for sequence, content, event_id in inputs:
                event = accepted_events[event_id]
                assert (event["worker_id"], event["data"]["content"], event["data"]["transcript_sequence"]) == (
                    worker_id,
                    content,
                    sequence,
                )
        ours = set(workers)
        assert sum(map(len, accepted.values())) == sum(1 for e in accepted_events.values() if e["worker_id"] in ours)


async def test_concurrent_creates_past_capacity_grant_exactly_the_capacity(tmp_path):
    config = write_config(tmp_path, embedded_toml(max_workers=40))
    with running_server(config, log=tmp_path / "server.log") as served:
        async with client(served, 100) as api:
            responses = await asyncio.gather(*(api.post(f"{RUNTIME}/workers", {}) for _ in range(100)))
            outcomes = collections.Counter((r.status, r.error_code) for r in responses)
            assert outcomes == {(201, None): 40, (409, "capacity_exceeded"): 60}
            created = {r.json()["worker_id"] for r in responses if r.status == 201}
            listed = (await api.get(f"{RUNTIME}/workers", params={"limit": 200})).json()["items"]
            assert {w["worker_id"] for w in listed} == created


async def test_racing_stop_cancel_and_input_end_every_worker_stopped_and_consistent(server):
    async with client(server, 200) as api:
        workers = await asyncio.gather(*(create_worker(api, SLOW_PROFILE) for _ in range(40)))
        await asyncio.gather(*(api.post(f"{RUNTIME}/workers/{w}/input", {"content": "first"}) for w in workers))
        # Per worker: two stops, two cancels and two inputs, all at once, interleaved across workers.
        actions = [
            (worker_id, action)
            for worker_id, action in itertools.product(workers, ["stop", "cancel", "input", "stop", "cancel", "input"])
        ]
        responses = await asyncio.gather(
            *(
                api.post(f"{RUNTIME}/workers/{w}/{action}", {"content": "racing"} if action == "input" else None)
                for w, action in actions
            )
        )
        by_worker = collections.defaultdict(list)
        for (worker_id, action), response in zip(actions, responses, strict=False):
            by_worker[worker_id].append((action, response))
        events, _ = await all_events(api, EMBEDDED)
        for worker_id in workers:
            outcomes = by_worker[worker_id]
            stops = [r for a, r in outcomes if a == "stop"]
            assert all(r.status == 200 for r in stops)
            assert sorted(r.json()["changed"] for r in stops) == [False, True], "exactly one stop changes the worker"
            for action, response in outcomes:
                assert (response.status, response.error_code) in {
                    (200, None),
                    (202, None),
                    (409, "worker_busy"),
                    (409, "worker_stopped"),
                }, (action, response.body)
            detail = (await api.get(f"{RUNTIME}/workers/{worker_id}")).json()
            assert detail["status"] == "stopped"
            transcript = await whole_transcript(api, EMBEDDED, worker_id)
            assert [e["sequence"] for e in transcript] == list(range(1, detail["transcript_length"] + 1))
            accepted_inputs = 1 + sum(1 for a, r in outcomes if a == "input" and r.status == 202)
            assert len([e for e in transcript if e["role"] == "user"]) == accepted_inputs
            own = [e["type"] for e in events if e["worker_id"] == worker_id]
            assert own.count("worker.stopped") == 1
            assert own[-1] == "worker.stopped", "nothing happens to a worker after it stopped"
