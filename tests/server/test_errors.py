"""Every error code of the contract, in the envelope, with its status: one behaviour per test."""

from __future__ import annotations

import logging

import pytest

from runtime_registry.server.app import create_app

from .conftest import OTHER, RUNTIME, create_worker, error_of, fake_assembly, serving
from .fakes import SECRET, FailingStartProvider, HangingProvider, RaisingProvider, ReadOnlyProvider, StrangeCodeProvider

BASE = f"/api/runtimes/{RUNTIME}"
JSON = {"Content-Type": "application/json"}


# -- the envelope --------------------------------------------------------------


async def test_an_error_is_an_envelope_with_code_message_and_the_ids_it_concerns(api):
    response = await api.get(f"{BASE}/workers/w-nope")
    assert response.json() == {
        "error": {
            "code": "unknown_worker",
            "message": response.json()["error"]["message"],
            "runtime_id": RUNTIME,
            "worker_id": "w-nope",
        }
    }


# -- 400 -----------------------------------------------------------------------


async def test_a_body_that_is_not_json_is_400_malformed_request(api):
    response = await api.post(f"{BASE}/workers", content=b"{not json", headers=JSON)
    assert error_of(response) == (400, "malformed_request")


async def test_a_json_body_that_is_not_an_object_is_400_malformed_request(api):
    response = await api.post(f"{BASE}/workers", content=b"[1, 2]", headers=JSON)
    assert error_of(response) == (400, "malformed_request")


async def test_nan_in_a_body_is_400_malformed_request(api):
    response = await api.post(f"{BASE}/workers", content=b'{"label": NaN}', headers=JSON)
    assert error_of(response) == (400, "malformed_request")


async def test_deeply_nested_json_is_400_not_a_crash(api):
    response = await api.post(f"{BASE}/workers", content=b"[" * 2000 + b"]" * 2000, headers=JSON)
    assert error_of(response) == (400, "malformed_request")


@pytest.mark.parametrize("limit", ["x", "0", "-1", "1.5", " 1", "1_0", "", "-" + "9" * 40])
async def test_a_limit_that_is_not_a_positive_integer_is_400_naming_limit(api, limit):
    response = await api.get(f"{BASE}/workers", params={"limit": limit})
    assert error_of(response) == (400, "malformed_request")
    assert response.json()["error"]["details"] == [{"path": "limit", "message": "must be an integer of at least 1"}]


@pytest.mark.parametrize("limit", ["9" * 19, "1" + "0" * 18, "9" * 40, "9" * 5000])
async def test_a_limit_of_more_than_18_digits_is_400_limit_too_large(api, limit):
    response = await api.get(f"{BASE}/workers", params={"limit": limit})
    assert error_of(response) == (400, "limit_too_large")
    assert response.json()["error"]["details"][0]["path"] == "limit"


async def test_a_limit_with_leading_zeros_is_its_number(api):
    response = await api.get(f"{BASE}/workers", params={"limit": "0" * 30 + "5"})
    assert response.status_code == 200


async def test_a_transcript_start_below_one_is_400_naming_start(api):
    worker_id = await create_worker(api)
    response = await api.get(f"{BASE}/workers/{worker_id}/transcript", params={"start": "0"})
    assert error_of(response) == (400, "malformed_request")
    assert response.json()["error"]["details"][0]["path"] == "start"


async def test_an_event_cursor_that_is_not_an_integer_is_400_naming_cursor(api):
    response = await api.get(f"{BASE}/events", params={"cursor": "abc"})
    assert (error_of(response), response.json()["error"]["details"][0]["path"]) == (
        (400, "malformed_request"),
        "cursor",
    )


async def test_a_worker_cursor_the_runtime_did_not_issue_is_400_malformed_request(api):
    response = await api.get(f"{BASE}/workers", params={"cursor": "forged"})
    assert error_of(response) == (400, "malformed_request")


async def test_an_overview_cursor_the_server_did_not_issue_is_400_malformed_request(api):
    response = await api.get("/api/workers", params={"cursor": "forged"})
    assert error_of(response) == (400, "malformed_request")


async def test_a_limit_above_the_runtimes_maximum_is_400_limit_too_large(api):
    worker_id = await create_worker(api, OTHER)
    response = await api.get(f"/api/runtimes/{OTHER}/workers/{worker_id}/transcript", params={"limit": 6})
    assert error_of(response) == (400, "limit_too_large")


@pytest.mark.parametrize(
    "path",
    [
        "/api/runtimes/bad%20id",
        "/api/runtimes/bad%20id/workers",
        "/api/runtimes/a%2Fb/workers",
        "/api/runtimes/a%2fb/events/stream",
        "/api/runtimes//workers",
        "/api/runtimes/" + "x" * 121,
        f"/api/runtimes/{RUNTIME}/workers/w%2F..%2F..",
        f"/api/runtimes/{RUNTIME}/workers/%00/transcript",
        f"/api/runtimes/{RUNTIME}/workers/%C3%A9/events",
    ],
)
async def test_a_bad_id_in_the_path_is_400_invalid_identifier(api, path):
    assert error_of(await api.get(path)) == (400, "invalid_identifier")


async def test_a_bad_worker_id_is_400_even_on_post(api):
    response = await api.post(f"{BASE}/workers/bad%20id/input", json={"content": "x"})
    assert error_of(response) == (400, "invalid_identifier")


# -- 401, 404, 405 ---------------------------------------------------------------


async def test_an_unknown_runtime_is_404_unknown_runtime(api):
    assert error_of(await api.get("/api/runtimes/nowhere/workers")) == (404, "unknown_runtime")


async def test_a_worker_of_one_runtime_is_unknown_in_another(api):
    worker_id = await create_worker(api)
    assert error_of(await api.get(f"/api/runtimes/{OTHER}/workers/{worker_id}")) == (404, "unknown_worker")


async def test_an_unknown_route_is_404_not_found(api):
    assert error_of(await api.get("/api/nothing-here")) == (404, "not_found")


async def test_a_trailing_slash_is_not_redirected(api):
    assert error_of(await api.get("/api/runtimes/")) == (404, "not_found")


async def test_a_wrong_method_is_405_method_not_allowed_with_allow(api):
    response = await api.delete(f"{BASE}/workers")
    assert error_of(response) == (405, "method_not_allowed")
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}


async def test_an_operation_the_kind_lacks_is_405_unsupported_operation():
    async with serving(create_app(assembly=fake_assembly(ReadOnlyProvider("ro")))) as client:
        response = await client.post("/api/runtimes/ro/workers", json={})
    assert error_of(response) == (405, "unsupported_operation")


async def test_a_stream_of_a_runtime_that_cannot_wait_is_405_unsupported_operation():
    async with serving(create_app(assembly=fake_assembly(ReadOnlyProvider("ro")))) as client:
        assert error_of(await client.get("/api/runtimes/ro/events/stream")) == (405, "unsupported_operation")


# -- 409, 410 --------------------------------------------------------------------


async def test_input_during_a_turn_is_409_worker_busy(api):
    worker_id = await create_worker(api, profile="slow")
    await api.post(f"{BASE}/workers/{worker_id}/input", json={"content": "first"})
    response = await api.post(f"{BASE}/workers/{worker_id}/input", json={"content": "second"})
    assert error_of(response) == (409, "worker_busy")


async def test_input_to_a_stopped_worker_is_409_worker_stopped(api):
    worker_id = await create_worker(api)
    await api.post(f"{BASE}/workers/{worker_id}/stop")
    response = await api.post(f"{BASE}/workers/{worker_id}/input", json={"content": "late"})
    assert error_of(response) == (409, "worker_stopped")


async def test_cancel_of_a_stopped_worker_is_409_worker_stopped(api):
    worker_id = await create_worker(api)
    await api.post(f"{BASE}/workers/{worker_id}/stop")
    assert error_of(await api.post(f"{BASE}/workers/{worker_id}/cancel")) == (409, "worker_stopped")


async def test_creating_past_the_worker_limit_is_409_capacity_exceeded(api):
    await create_worker(api, OTHER)
    assert error_of(await api.post(f"/api/runtimes/{OTHER}/workers", json={})) == (409, "capacity_exceeded")


async def test_polling_from_an_expired_cursor_is_410_cursor_expired(api):
    worker_id = await create_worker(api, OTHER)
    for _ in range(3):
        await api.post(f"/api/runtimes/{OTHER}/workers/{worker_id}/cancel")
        await api.post(f"/api/runtimes/{OTHER}/workers/{worker_id}/input", json={"content": "x"})
    response = await api.get(f"/api/runtimes/{OTHER}/events", params={"cursor": 0})
    assert error_of(response) == (410, "cursor_expired")


# -- 413, 415, 422 ----------------------------------------------------------------


async def test_a_declared_body_over_the_limit_is_413_before_it_is_read(api):
    response = await api.post(f"{BASE}/workers", content=b"{" + b" " * 5000 + b"}", headers=JSON)
    assert error_of(response) == (413, "payload_too_large")


async def test_a_streamed_body_over_the_limit_is_413(api):
    async def chunks():
        for _ in range(10):
            yield b" " * 1000

    response = await api.post(f"{BASE}/workers", content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert error_of(response) == (413, "payload_too_large")


async def test_a_body_that_is_not_declared_json_is_415(api):
    response = await api.post(
        f"{BASE}/workers", content=b"{}", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert error_of(response) == (415, "unsupported_media_type")


async def test_a_json_suffix_media_type_is_json(api):
    response = await api.post(
        f"{BASE}/workers", content=b"{}", headers={"Content-Type": "application/merge-patch+json; charset=utf-8"}
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"label": 5}, "label"),
        ({"intent": {"kind": "wizard"}}, "intent.kind"),
        ({"capabilities": "tools"}, "capabilities"),
        ({"profile": "../etc"}, "profile"),
        ({"lable": "typo"}, "lable"),
    ],
)
async def test_a_create_body_of_the_wrong_shape_is_422_naming_the_field(api, body, path):
    response = await api.post(f"{BASE}/workers", json=body)
    assert error_of(response) == (422, "invalid_request")
    assert path in [d["path"] for d in response.json()["error"]["details"]]


async def test_asking_for_a_capability_the_runtime_cannot_grant_is_422(api):
    response = await api.post(f"{BASE}/workers", json={"capabilities": ["tools"]})
    assert error_of(response) == (422, "invalid_request")


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"content": ""}, "content"),
        ({"content": "  "}, "content"),
        ({}, "content"),
        ({"content": "x", "kind": "root"}, "kind"),
    ],
)
async def test_an_input_body_of_the_wrong_shape_is_422_naming_the_field(api, body, path):
    worker_id = await create_worker(api)
    response = await api.post(f"{BASE}/workers/{worker_id}/input", json=body)
    assert error_of(response) == (422, "invalid_request")
    assert [d["path"] for d in response.json()["error"]["details"]] == [path]


async def test_input_over_the_runtimes_max_input_chars_is_422_naming_content(api):
    worker_id = await create_worker(api)
    response = await api.post(f"{BASE}/workers/{worker_id}/input", json={"content": "x" * 101})
    assert error_of(response) == (422, "invalid_request")
    assert response.json()["error"]["details"][0]["path"] == "content"


# -- 500, 503, 504 ------------------------------------------------------------------


async def test_a_runtime_that_failed_to_start_is_503_runtime_unavailable():
    async with serving(create_app(assembly=fake_assembly(FailingStartProvider("down")))) as client:
        assert error_of(await client.get("/api/runtimes/down/workers")) == (503, "runtime_unavailable")


async def test_a_provider_that_raises_is_503_with_a_generic_message():
    async with serving(create_app(assembly=fake_assembly(RaisingProvider("boom")))) as client:
        response = await client.get("/api/runtimes/boom/workers/w1")
    assert error_of(response) == (503, "runtime_unavailable")
    assert "secret" not in response.text


async def test_a_provider_that_hangs_is_504_runtime_timeout():
    async with serving(create_app(assembly=fake_assembly(HangingProvider("slow"), call_timeout=0.05))) as client:
        assert error_of(await client.get("/api/runtimes/slow/workers/w1")) == (504, "runtime_timeout")


async def test_a_typed_error_with_a_code_the_contract_lacks_is_a_bare_500():
    async with serving(create_app(assembly=fake_assembly(StrangeCodeProvider("odd")))) as client:
        response = await client.get("/api/runtimes/odd/workers/w1")
    assert error_of(response) == (500, "internal_error")
    assert set(response.json()["error"]) == {"code", "message", "request_id"}
    assert SECRET not in response.text


async def test_an_unexpected_exception_is_a_500_with_only_a_request_id():
    app = create_app(assembly=fake_assembly(ReadOnlyProvider("ro")))

    async def explode():
        raise RuntimeError(SECRET)

    async with serving(app) as client:
        app.state.assembly.registry.list_runtimes = explode
        response = await client.get("/api/runtimes")
    body = response.json()
    assert error_of(response) == (500, "internal_error")
    assert set(body["error"]) == {"code", "message", "request_id"}
    assert body["error"]["request_id"] == response.headers["x-request-id"]
    assert SECRET not in response.text


async def test_an_unexpected_exception_is_logged_with_its_request_id_and_traceback(caplog):
    app = create_app(assembly=fake_assembly(ReadOnlyProvider("ro")))

    async def explode():
        raise RuntimeError("kaboom")

    with caplog.at_level(logging.ERROR, logger="runtime_registry.server.errors"):
        async with serving(app) as client:
            app.state.assembly.registry.list_runtimes = explode
            response = await client.get("/api/runtimes")
    record = next(r for r in caplog.records if r.name == "runtime_registry.server.errors")
    assert response.json()["error"]["request_id"] in record.getMessage()
    assert record.exc_info is not None and "kaboom" in str(record.exc_info[1])


async def test_after_shutdown_a_runtime_is_503_runtime_unavailable():
    app = create_app(assembly=fake_assembly(ReadOnlyProvider("ro")))
    async with serving(app):
        pass
    async with serving(app) as client:
        assert error_of(await client.get("/api/runtimes/ro/workers")) == (503, "runtime_unavailable")
