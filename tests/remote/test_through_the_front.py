"""A front server whose runtimes are another server's: ids, events, cursors, busy rule and capabilities pass through."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from registry_core import CreateWorkerRequest, QueueFull, RuntimeStatus, unstructure
from registry_core.models import ProfileSelector
from runtime_registry.client import RegistryClient

from ..support.tcp_proxy import TcpRelay
from .conftest import BACK_TOKEN


@pytest.fixture
async def front(pair):
    async with RegistryClient(pair.front.base_url) as client:
        yield client


@pytest.fixture
async def back(pair):
    async with RegistryClient(pair.back.base_url, token=BACK_TOKEN) as client:
        yield client


async def test_the_summary_is_the_remote_runtimes_under_this_runtimes_identity(front, back):
    summary = await front.get_runtime("gpu")
    remote = await back.get_runtime("back-a")
    assert (summary.runtime_id, summary.kind, summary.plugin.name) == ("gpu", "remote", "remote")
    assert summary.status is RuntimeStatus.RUNNING
    assert summary.capabilities == remote.capabilities
    assert summary.limits == remote.limits


async def test_an_operation_the_remote_does_not_do_is_405_here_too(pair, front, back):
    summary = await front.get_runtime("ro")
    assert summary.capabilities == (await back.get_runtime("disk")).capabilities
    assert summary.capabilities.list_workers and not summary.capabilities.create_worker
    async with httpx.AsyncClient(base_url=pair.front.base_url) as raw:
        answer = await raw.post("/api/runtimes/ro/workers", json={})
        assert answer.status_code == 405 and answer.json()["error"]["code"] == "unsupported_operation"
        assert answer.json()["error"]["runtime_id"] == "ro"
        assert (await raw.get("/api/runtimes/ro/events")).status_code == 405
        assert (await raw.get("/api/runtimes/ro/events/stream")).status_code == 405
        assert (await raw.get("/api/runtimes/ro/workers")).status_code == 200


async def test_the_remotes_profiles_pass_through_and_a_kind_without_them_is_405(pair, front, back):
    profiles = await front.list_profiles("gpu")
    assert profiles.runtime_id == "gpu"
    assert profiles.items == (await back.list_profiles("back-a")).items
    assert {"slow-echo", "hold", "builtin:echo"} <= {p.name for p in profiles.items}
    assert (await front.get_runtime("gpu")).capabilities.list_profiles
    assert not (await front.get_runtime("ro")).capabilities.list_profiles
    async with httpx.AsyncClient(base_url=pair.front.base_url) as raw:
        answer = await raw.get("/api/runtimes/ro/profiles")
        assert answer.status_code == 405 and answer.json()["error"]["code"] == "unsupported_operation"


async def test_ids_transcripts_and_events_pass_through_unchanged(front, back):
    worker = await front.create_worker("gpu", CreateWorkerRequest(profile=ProfileSelector("slow-echo")))
    assert (worker.runtime_id, worker.kind) == ("gpu", "remote")
    remote_worker = await back.get_worker("back-a", worker.worker_id)
    assert remote_worker.worker_id == worker.worker_id and remote_worker.label == worker.label
    accepted = await front.send_input("gpu", worker.worker_id, "through the front")
    await asyncio.sleep(0.5)
    front_page = await front.read_transcript("gpu", worker.worker_id)
    back_page = await back.read_transcript("back-a", worker.worker_id)
    assert front_page.items == back_page.items and front_page.runtime_id == "gpu"
    front_events = await front.read_events("gpu", worker_id=worker.worker_id)
    back_events = await back.read_events("back-a", worker_id=worker.worker_id)
    assert front_events.events == back_events.events
    assert accepted.event_id in [event.id for event in front_events.events]
    # A cursor of one side is a cursor of the other.
    cursor = back_events.events[0].id
    assert (await front.read_events("gpu", cursor=cursor)).events == (
        await back.read_events("back-a", cursor=cursor)
    ).events


async def test_worker_cursors_page_through_the_proxy(front, back):
    created = [(await front.create_worker("gpu-2")).worker_id for _ in range(5)]
    paged = [worker.worker_id async for worker in front.iter_workers("gpu-2", page_size=2)]
    assert paged == [worker.worker_id async for worker in back.iter_workers("back-b", page_size=2)]
    assert set(created) <= set(paged)
    overview = [(w.runtime_id, w.worker_id) async for w in front.iter_all_workers(page_size=3)]
    assert {("gpu-2", worker_id) for worker_id in created} <= set(overview)


async def test_of_concurrent_inputs_through_the_front_exactly_one_is_accepted(pair, front):
    worker = await front.create_worker("gpu", CreateWorkerRequest(profile=ProfileSelector("hold")))
    path = f"/api/runtimes/gpu/workers/{worker.worker_id}/input"
    async with httpx.AsyncClient(base_url=pair.front.base_url) as raw:
        answers = await asyncio.gather(*(raw.post(path, json={"content": f"input {i}"}) for i in range(10)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [202] + [409] * 9
    assert {answer.json()["error"]["code"] for answer in answers if answer.status_code == 409} == {"worker_busy"}
    await front.stop_worker("gpu", worker.worker_id)


async def test_the_stream_resumes_through_the_proxy_with_last_event_id(pair, front, back):
    start = (await back.read_events("back-a", limit=1000)).next_cursor
    worker = await front.create_worker("gpu")
    async with TcpRelay(int(pair.front.base_url.rsplit(":", 1)[1])) as relay:
        async with RegistryClient(relay.base_url) as via_relay:
            seen = []
            async with via_relay.subscribe("gpu", cursor=start, reconnect_delay=0.05) as events:
                seen.append((await asyncio.wait_for(events.__anext__(), 10)).id)
                relay.drop()
                await front.send_input("gpu", worker.worker_id, "after the drop")
                await asyncio.sleep(0.3)
                expected = [event.id for event in (await back.read_events("back-a", cursor=start, limit=1000)).events]
                while len(seen) < len(expected):
                    seen.append((await asyncio.wait_for(events.__anext__(), 10)).id)
                assert events.reconnects >= 1
    assert seen == expected


async def test_a_new_event_wakes_a_stream_of_the_front(front):
    cursor = (await front.read_events("gpu", limit=1000)).next_cursor
    async with front.subscribe("gpu", cursor=cursor) as events:
        waiting = asyncio.ensure_future(events.__anext__())
        await asyncio.sleep(0.3)
        worker = await front.create_worker("gpu")
        event = await asyncio.wait_for(waiting, 10)
    assert (event.type, event.worker_id) == ("worker.created", worker.worker_id)


async def test_the_overview_rows_and_json_are_the_front_runtimes(pair, front):
    worker = await front.create_worker("gpu")
    async with httpx.AsyncClient(base_url=pair.front.base_url) as raw:
        body = (await raw.get(f"/api/runtimes/gpu/workers/{worker.worker_id}")).json()
    assert body == unstructure(await front.get_worker("gpu", worker.worker_id))
    assert (body["runtime_id"], body["kind"]) == ("gpu", "remote")


async def test_a_list_cursor_the_remote_did_not_issue_is_400_here_too(pair):
    async with httpx.AsyncClient(base_url=pair.front.base_url) as raw:
        answer = await raw.get("/api/runtimes/gpu/workers", params={"cursor": "not-a-cursor-it-issued"})
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "malformed_request")
    assert answer.json()["error"]["details"][0]["path"] == "cursor"


async def test_busy_policies_queued_inputs_and_queue_full_pass_through(front, back):
    assert (await front.get_runtime("gpu")).capabilities.busy_policies == ("reject", "enqueue", "interrupt")
    assert (await front.get_runtime("ro")).capabilities.busy_policies == ("reject",)
    worker = await front.create_worker("gpu", CreateWorkerRequest(profile=ProfileSelector("hold")))
    await front.send_input("gpu", worker.worker_id, "first")
    queued = [await front.send_input("gpu", worker.worker_id, f"q{n}", if_busy="enqueue") for n in range(8)]
    assert [(q.runtime_id, q.status, q.queue_position) for q in queued] == [("gpu", "queued", n) for n in range(1, 9)]
    with pytest.raises(QueueFull):
        await front.send_input("gpu", worker.worker_id, "full", if_busy="enqueue")
    assert (await front.cancel_worker("gpu", worker.worker_id, queued="keep")).status == "busy"
    events = (await back.read_events("back-a", worker_id=worker.worker_id, limit=100)).events
    started = [e.data.get("queued_event_id") for e in events if e.type == "worker.input_accepted"]
    assert started == [None, queued[0].event_id]
    interrupted = await front.send_input("gpu", worker.worker_id, "now", if_busy="interrupt")
    assert interrupted.status == "busy"
    assert (await front.cancel_worker("gpu", worker.worker_id)).status == "idle"
    events = (await back.read_events("back-a", worker_id=worker.worker_id, limit=100)).events
    assert [e.data["reason"] for e in events if e.type == "worker.input_dropped"] == ["cancel"] * 7
    await front.stop_worker("gpu", worker.worker_id)


async def test_an_unknown_profile_is_422_unknown_profile_here_too(pair):
    async with httpx.AsyncClient(base_url=pair.front.base_url) as raw:
        answer = await raw.post("/api/runtimes/gpu/workers", json={"profile": "slow-ecko"})
    error = answer.json()["error"]
    assert (answer.status_code, error["code"], error["runtime_id"]) == (422, "unknown_profile", "gpu")
    assert "did you mean 'slow-echo'" in error["message"]
    assert error["details"][0]["path"] == "profile"
