"""The ``template-kind`` kind served by the real HTTP app, in-process (runtime-registry's kind_app fixture)."""

import asyncio


async def test_a_worker_answers_over_http(kind_app):
    async with kind_app(settings={"max_workers": 1, "turn_seconds": 0.1}) as client:
        worker = (await client.post("/api/runtimes/test/workers", json={})).json()
        path = f"/api/runtimes/test/workers/{worker['worker_id']}"
        accepted = await client.post(f"{path}/input", json={"content": "hello"})
        while (await client.get(path)).json()["status"] == "busy":
            await asyncio.sleep(0.02)
        transcript = (await client.get(f"{path}/transcript")).json()
        full = await client.post("/api/runtimes/test/workers", json={})
    assert accepted.status_code == 202
    assert [entry["content"] for entry in transcript["items"]] == ["hello", "hello"]
    assert full.json()["error"]["code"] == "capacity_exceeded"


async def test_settings_that_do_not_fit_are_refused(kind_registry):
    import pytest
    from runtime_registry.host import ConfigError

    with pytest.raises(ConfigError, match="page_max"):
        async with kind_registry(settings={"page_max": 0}):
            pass
