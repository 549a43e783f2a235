"""``DELETE /api/runtimes/{runtime_id}/workers/{worker_id}``: answers, errors, capacity and browser safety."""

from __future__ import annotations

import asyncio

import httpx

from runtime_registry.server.app import create_app

from .conftest import OTHER, RUNTIME, create_worker, embedded_assembly, error_of, fake_assembly, serving
from .fakes import ReadOnlyProvider

BASE = f"/api/runtimes/{RUNTIME}"


async def test_delete_answers_the_action_result_of_a_delete(api):
    worker_id = await create_worker(api)
    response = await api.delete(f"{BASE}/workers/{worker_id}")
    assert response.status_code == 200
    assert response.json() == {
        "runtime_id": RUNTIME,
        "worker_id": worker_id,
        "action": "delete",
        "changed": True,
        "status": "stopped",
    }


async def test_a_deleted_worker_is_404_unknown_worker(api):
    worker_id = await create_worker(api)
    await api.delete(f"{BASE}/workers/{worker_id}")
    assert error_of(await api.get(f"{BASE}/workers/{worker_id}")) == (404, "unknown_worker")


async def test_a_second_delete_is_404_unknown_worker(api):
    worker_id = await create_worker(api)
    await api.delete(f"{BASE}/workers/{worker_id}")
    response = await api.delete(f"{BASE}/workers/{worker_id}")
    assert error_of(response) == (404, "unknown_worker")
    assert response.json()["error"]["worker_id"] == worker_id


async def test_deleting_a_busy_worker_cancels_its_turn(api):
    worker_id = await create_worker(api, profile="slow")
    await api.post(f"{BASE}/workers/{worker_id}/input", json={"content": "take your time"})
    assert (await api.delete(f"{BASE}/workers/{worker_id}")).status_code == 200
    types = [
        e["type"]
        for e in (await api.get(f"{BASE}/events", params={"limit": 1000})).json()["events"]
        if e["worker_id"] == worker_id
    ]
    assert types[-3:] == ["worker.turn_cancelled", "worker.stopped", "worker.deleted"]


async def test_deleting_frees_a_full_runtimes_slot_for_a_create(api):
    first = await create_worker(api, OTHER)  # OTHER holds one worker at most
    refused = await api.post(f"/api/runtimes/{OTHER}/workers", json={})
    await api.delete(f"/api/runtimes/{OTHER}/workers/{first}")
    again = await api.post(f"/api/runtimes/{OTHER}/workers", json={})
    assert (error_of(refused), again.status_code) == ((409, "capacity_exceeded"), 201)
    assert again.json()["worker_id"] != first


async def test_the_list_no_longer_shows_a_deleted_worker(api):
    kept, deleted = await create_worker(api), await create_worker(api)
    await api.delete(f"{BASE}/workers/{deleted}")
    assert [w["worker_id"] for w in (await api.get(f"{BASE}/workers")).json()["items"]] == [kept]


async def test_a_list_cursor_naming_a_deleted_worker_still_pages_on(api):
    ids = [await create_worker(api) for _ in range(3)]
    cursor = (await api.get(f"{BASE}/workers", params={"limit": 1})).json()["next_cursor"]
    await api.delete(f"{BASE}/workers/{ids[0]}")
    rest = (await api.get(f"{BASE}/workers", params={"cursor": cursor})).json()
    assert [w["worker_id"] for w in rest["items"]] == ids[1:]


async def test_delete_of_a_worker_of_an_unknown_runtime_is_404_unknown_runtime(api):
    assert error_of(await api.delete("/api/runtimes/nowhere/workers/w-1")) == (404, "unknown_runtime")


async def test_delete_with_a_bad_worker_id_is_400_invalid_identifier(api):
    assert error_of(await api.delete(f"{BASE}/workers/bad%20id")) == (400, "invalid_identifier")


async def test_delete_in_a_kind_without_it_is_405_unsupported_operation():
    async with serving(create_app(assembly=fake_assembly(ReadOnlyProvider("ro")))) as client:
        response = await client.delete("/api/runtimes/ro/workers/w1")
    assert error_of(response) == (405, "unsupported_operation")


async def test_the_worker_path_allows_get_head_and_delete(api):
    response = await api.put(f"{BASE}/workers/w-1")
    assert error_of(response) == (405, "method_not_allowed")
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "DELETE"}


async def test_a_cross_site_delete_is_refused_and_keeps_the_worker(api):
    worker_id = await create_worker(api)
    refused = await api.delete(f"{BASE}/workers/{worker_id}", headers={"Origin": "http://evil.example"})
    assert error_of(refused) == (403, "forbidden_origin")
    assert (await api.get(f"{BASE}/workers/{worker_id}")).status_code == 200


async def test_the_capability_is_true_for_embedded_and_false_for_a_kind_without_it(api):
    embedded = (await api.get(f"{BASE}")).json()["capabilities"]
    async with serving(create_app(assembly=fake_assembly(ReadOnlyProvider("ro")))) as client:
        read_only = (await client.get("/api/runtimes/ro")).json()["capabilities"]
    assert (embedded["delete_worker"], read_only["delete_worker"]) == (True, False)


async def test_a_preflight_for_delete_names_delete_among_the_allowed_methods():
    config = f'[server]\ncors_allowed_origins = ["https://console.example"]\n[[runtimes]]\nid = "{RUNTIME}"\nkind = "embedded"\n'
    app = create_app(assembly=embedded_assembly(config))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://localhost:8000"
        ) as client:
            response = await client.options(
                f"{BASE}/workers/w-1",
                headers={"Origin": "https://console.example", "Access-Control-Request-Method": "DELETE"},
            )
    assert response.status_code == 204
    assert "DELETE" in response.headers["access-control-allow-methods"].split(", ")


async def test_of_concurrent_deletes_of_one_worker_exactly_one_succeeds(api):
    worker_id = await create_worker(api, profile="slow")
    await api.post(f"{BASE}/workers/{worker_id}/input", json={"content": "busy"})
    answers = await asyncio.gather(*(api.delete(f"{BASE}/workers/{worker_id}") for _ in range(8)))
    assert sorted(response.status_code for response in answers) == [200] + [404] * 7
