"""List filters through a remote runtime: the front passes them to the back server, which filters (decision 0200)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from registry_core import CreateWorkerRequest
from runtime_registry.client import RegistryClient

from .conftest import BACK_TOKEN


@pytest.fixture
async def front(pair):
    async with RegistryClient(pair.front.base_url) as client:
        yield client


@pytest.fixture
async def back(pair):
    async with RegistryClient(pair.back.base_url, token=BACK_TOKEN) as client:
        yield client


async def test_a_filter_goes_to_the_back_which_fills_the_page_itself(front, back):
    # Were the filter applied only at the front, a page of one would hold a
    # row of hay and come back empty with a cursor; the back fills it.
    for _ in range(6):
        await front.create_worker("gpu", CreateWorkerRequest(label="hay-remote"))
    needle = await front.create_worker("gpu", CreateWorkerRequest(label="needle-remote"))
    page = await front.list_workers("gpu", limit=1, label="needle-remote")
    assert [w.worker_id for w in page.items] == [needle.worker_id]
    assert page.items[0].runtime_id == "gpu" and page.items[0].kind == "remote"
    assert page.next_cursor is None
    straight = await back.list_workers("back-a", label="needle-remote")
    assert [w.worker_id for w in straight.items] == [needle.worker_id]


async def test_status_and_cursors_pass_through_and_malformed_values_are_refused_at_the_front(pair, front):
    made = [await front.create_worker("gpu", CreateWorkerRequest(label="paged-remote")) for _ in range(5)]
    await front.stop_worker("gpu", made[1].worker_id)
    seen = [w.worker_id async for w in front.iter_workers("gpu", page_size=2, label="paged-remote", status="idle")]
    assert seen == [w.worker_id for w in made if w.worker_id != made[1].worker_id]
    stopped = await front.list_workers("gpu", label="paged-remote", status="stopped")
    assert [w.worker_id for w in stopped.items] == [made[1].worker_id]
    async with httpx.AsyncClient(base_url=pair.front.base_url) as raw:
        answer = await raw.get("/api/runtimes/gpu/workers", params={"label": "bad\x07"})
        assert answer.status_code == 400 and answer.json()["error"]["details"][0]["path"] == "label"


async def test_the_overview_filters_remote_runtimes_too(front):
    made = await front.create_worker("gpu-2", CreateWorkerRequest(label="overview-remote"))
    seen = [(w.runtime_id, w.worker_id) async for w in front.iter_all_workers(label="overview-remote")]
    assert seen == [("gpu-2", made.worker_id)]


async def test_a_workers_totals_are_its_back_servers(front, back):
    from registry_core import InputRequest, WorkerTotals

    made = await front.create_worker("gpu", CreateWorkerRequest(profile="builtin:echo"))
    await front.send_input("gpu", made.worker_id, InputRequest("count me"))
    for _ in range(500):
        if (await front.get_worker("gpu", made.worker_id)).status == "idle":
            break
        await asyncio.sleep(0.01)
    through_front = (await front.get_worker("gpu", made.worker_id)).totals
    assert through_front == (await back.get_worker("back-a", made.worker_id)).totals == WorkerTotals(1, 0, 0)
