# tests/test_wordcount_http.py
from registry_core import CreateWorkerRequest


async def test_the_settings_reach_the_runtime(kind_registry):
    async with kind_registry(settings={"max_workers": 1, "page_max": 10}) as registry:
        assert (await registry.describe_runtime("test")).limits.worker_page_max == 10
        await registry.create_worker("test", CreateWorkerRequest())


async def test_the_reply_over_http(kind_app):
    async with kind_app(settings={"max_workers": 1}) as client:
        worker = (await client.post("/api/runtimes/test/workers", json={})).json()
        accepted = await client.post(f"/api/runtimes/test/workers/{worker['worker_id']}/input", json={"content": "a b"})
        transcript = (await client.get(f"/api/runtimes/test/workers/{worker['worker_id']}/transcript")).json()
        full = await client.post("/api/runtimes/test/workers", json={})
    assert accepted.status_code == 202
    assert transcript["items"][-1]["content"] == "2 words, 3 characters"
    assert full.json()["error"]["code"] == "capacity_exceeded"
