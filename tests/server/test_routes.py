"""Every route of the contract answers with its success status and shape, on the real embedded runtime."""

from __future__ import annotations

import asyncio
import base64
import json

from .conftest import OTHER, RUNTIME, create_worker, error_of

BASE = f"/api/runtimes/{RUNTIME}"


async def wait_for_status(api, worker_id: str, status: str) -> dict:
    for _ in range(200):
        worker = (await api.get(f"{BASE}/workers/{worker_id}")).json()
        if worker["status"] == status:
            return worker
        await asyncio.sleep(0.01)
    raise AssertionError(f"worker never became {status}")


async def test_healthz_is_ok_and_says_nothing_else(api):
    response = await api.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_json_responses_are_utf8_json(api):
    response = await api.get("/api/runtimes")
    assert response.headers["content-type"] == "application/json; charset=utf-8"


async def test_every_response_carries_a_request_id(api):
    response = await api.get("/api/runtimes")
    assert response.headers["x-request-id"]


async def test_a_clients_request_id_is_echoed(api):
    response = await api.get("/healthz", headers={"X-Request-ID": "trace-42"})
    assert response.headers["x-request-id"] == "trace-42"


async def test_openapi_json_is_an_openapi_3_1_document(api):
    document = (await api.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.1")


async def test_plugins_lists_the_builtin_plugins_as_loaded(api):
    plugins = {p["name"]: p for p in (await api.get("/api/plugins")).json()["items"]}
    assert (plugins["embedded"]["state"], plugins["embedded"]["kinds"]) == ("loaded", ["embedded"])


async def test_runtimes_lists_every_configured_runtime_in_order(api):
    body = (await api.get("/api/runtimes")).json()
    assert [r["runtime_id"] for r in body["items"]] == [RUNTIME, OTHER]
    assert body["diagnostics"] == []


async def test_a_runtime_summary_has_status_capabilities_limits_and_kind(api):
    summary = (await api.get(BASE)).json()
    assert (summary["kind"], summary["status"], summary["display_name"]) == (
        "embedded",
        "running",
        "Backend (embedded)",
    )
    assert all(summary["capabilities"].values())
    assert summary["limits"]["max_input_chars"] == 100


async def test_create_answers_201_with_the_worker_and_its_location(api):
    response = await api.post(f"{BASE}/workers", json={"profile": "builtin:echo", "label": "demo"})
    assert response.status_code == 201
    worker = response.json()
    assert (worker["runtime_id"], worker["kind"], worker["profile"], worker["label"]) == (
        RUNTIME,
        "embedded",
        "builtin:echo",
        "demo",
    )
    assert response.headers["location"] == f"{BASE}/workers/{worker['worker_id']}"


async def test_create_with_an_empty_body_uses_the_default_profile(api):
    response = await api.post(f"{BASE}/workers")
    assert (response.status_code, response.json()["profile"]) == (201, "builtin:default")


async def test_create_with_an_unknown_profile_is_422_unknown_profile_naming_the_closest(api):
    response = await api.post(f"{BASE}/workers", json={"profile": "builtin:ecko"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "unknown_profile" and error["runtime_id"] == RUNTIME
    assert (
        error["message"]
        == "no profile 'builtin:ecko' in this runtime; did you mean 'builtin:echo' or 'builtin:default'?"
    )
    assert error["details"] == [{"path": "profile", "message": "did you mean 'builtin:echo' or 'builtin:default'?"}]
    assert (await api.get(f"{BASE}/workers")).json()["items"] == []


async def test_get_worker_returns_the_worker(api):
    worker_id = await create_worker(api, label="x")
    worker = (await api.get(f"{BASE}/workers/{worker_id}")).json()
    assert (worker["worker_id"], worker["status"], worker["label"]) == (worker_id, "idle", "x")


async def test_list_workers_pages_with_an_opaque_cursor(api):
    ids = [await create_worker(api) for _ in range(3)]
    first = (await api.get(f"{BASE}/workers", params={"limit": 2})).json()
    second = (await api.get(f"{BASE}/workers", params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert [w["worker_id"] for w in first["items"] + second["items"]] == ids
    assert second["next_cursor"] is None


async def test_input_answers_202_with_where_it_landed(api):
    worker_id = await create_worker(api, profile="builtin:echo")
    response = await api.post(f"{BASE}/workers/{worker_id}/input", json={"content": "hello"})
    assert response.status_code == 202
    accepted = response.json()
    assert (accepted["runtime_id"], accepted["worker_id"], accepted["transcript_sequence"]) == (RUNTIME, worker_id, 1)
    assert isinstance(accepted["event_id"], int)


async def test_the_echo_reply_reaches_the_transcript(api):
    worker_id = await create_worker(api, profile="builtin:echo")
    await api.post(f"{BASE}/workers/{worker_id}/input", json={"content": "hello", "kind": "user"})
    await wait_for_status(api, worker_id, "idle")
    page = (await api.get(f"{BASE}/workers/{worker_id}/transcript")).json()
    assert [(e["sequence"], e["role"], e["content"]) for e in page["items"]] == [
        (1, "user", "hello"),
        (2, "assistant", "hello"),
    ]
    assert (page["start"], page["total"], page["next_start"]) == (1, 2, None)


async def test_transcript_pages_by_start_and_limit(api):
    worker_id = await create_worker(api, profile="builtin:echo")
    await api.post(f"{BASE}/workers/{worker_id}/input", json={"content": "one"})
    await wait_for_status(api, worker_id, "idle")
    page = (await api.get(f"{BASE}/workers/{worker_id}/transcript", params={"start": 2, "limit": 1})).json()
    assert ([e["sequence"] for e in page["items"]], page["limit"], page["next_start"]) == ([2], 1, None)


async def test_cancel_of_a_turn_leaves_the_worker_idle_and_usable(api):
    worker_id = await create_worker(api, profile="slow")
    await api.post(f"{BASE}/workers/{worker_id}/input", json={"content": "take your time"})
    response = await api.post(f"{BASE}/workers/{worker_id}/cancel")
    assert response.status_code == 200
    assert (response.json()["action"], response.json()["changed"], response.json()["status"]) == (
        "cancel",
        True,
        "idle",
    )


async def test_cancel_while_idle_changes_nothing(api):
    worker_id = await create_worker(api)
    assert (await api.post(f"{BASE}/workers/{worker_id}/cancel")).json()["changed"] is False


async def test_stop_is_final_and_idempotent(api):
    worker_id = await create_worker(api)
    first = await api.post(f"{BASE}/workers/{worker_id}/stop")
    again = await api.post(f"{BASE}/workers/{worker_id}/stop")
    assert (first.status_code, first.json()["status"], first.json()["changed"]) == (200, "stopped", True)
    assert (again.status_code, again.json()["changed"]) == (200, False)


async def test_runtime_events_page_after_a_cursor(api):
    worker_id = await create_worker(api)
    everything = (await api.get(f"{BASE}/events")).json()
    assert everything["events"][-1]["worker_id"] == worker_id
    after = (await api.get(f"{BASE}/events", params={"cursor": everything["next_cursor"]})).json()
    assert (after["events"], after["has_more"], after["next_cursor"]) == ([], False, everything["next_cursor"])


async def test_runtime_events_respect_limit(api):
    for _ in range(3):
        await create_worker(api)
    page = (await api.get(f"{BASE}/events", params={"limit": 2})).json()
    assert (len(page["events"]), page["has_more"]) == (2, True)


async def test_worker_events_hold_only_that_workers_events(api):
    mine = await create_worker(api)
    await create_worker(api)
    page = (await api.get(f"{BASE}/workers/{mine}/events")).json()
    assert {e["worker_id"] for e in page["events"]} == {mine}


async def test_the_overview_lists_workers_of_every_runtime_with_their_runtime(api):
    here = await create_worker(api)
    there = await create_worker(api, OTHER)
    body = (await api.get("/api/workers")).json()
    assert {(w["runtime_id"], w["worker_id"], w["kind"]) for w in body["items"]} == {
        (RUNTIME, here, "embedded"),
        (OTHER, there, "embedded"),
    }


async def test_the_overview_pages_with_limit_and_cursor(api):
    await create_worker(api)
    await create_worker(api, OTHER)
    first = (await api.get("/api/workers", params={"limit": 1})).json()
    second = (await api.get("/api/workers", params={"limit": 1, "cursor": first["next_cursor"]})).json()
    assert [w["runtime_id"] for w in first["items"] + second["items"]] == [RUNTIME, OTHER]


def overview_cursor(runtime_id: str, inner: str) -> str:
    """An overview cursor as the server spells one (base64url of ``[runtime_id, inner]``), here forged."""
    raw = json.dumps([runtime_id, inner], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def test_an_overview_cursor_with_a_tampered_inner_cursor_is_a_400_not_a_short_list(api):
    # Issue 12, point 5: this was a 200 with the list cut short at that runtime
    # and a false "could not list its workers" diagnostic.
    await create_worker(api)
    await create_worker(api)
    await create_worker(api, OTHER)
    issued = (await api.get("/api/workers", params={"limit": 1})).json()["next_cursor"]
    assert json.loads(base64.urlsafe_b64decode(issued + "=" * (-len(issued) % 4)))[0] == RUNTIME
    for inner in ("forged", "1-00000000", "9" * 19 + "-x"):
        response = await api.get("/api/workers", params={"cursor": overview_cursor(RUNTIME, inner)})
        assert error_of(response) == (400, "malformed_request")
        assert response.json()["error"]["details"][0]["path"] == "cursor"
        assert inner not in response.text


async def test_a_worker_list_cursor_the_runtime_did_not_issue_is_a_400_naming_the_cursor(api):
    await create_worker(api)
    response = await api.get(f"{BASE}/workers", params={"cursor": "1-00000000"})
    assert error_of(response) == (400, "malformed_request")
    assert response.json()["error"]["details"] == [{"path": "cursor", "message": "unknown cursor"}]


async def test_head_of_a_get_route_answers_without_a_body(api):
    response = await api.head("/api/runtimes")
    assert (response.status_code, response.content) == (200, b"")
