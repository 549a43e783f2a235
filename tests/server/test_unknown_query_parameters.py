"""A query parameter a route does not take is ``400 malformed_request`` naming it, on every route (issue 21)."""

from __future__ import annotations

import pytest

from runtime_registry.server.contract import OPERATIONS

from .conftest import RUNTIME, create_worker, error_of


def _concrete(path: str, worker_id: str) -> str:
    return path.replace("{runtime_id}", RUNTIME).replace("{worker_id}", worker_id)


@pytest.mark.parametrize("op", [op for op in OPERATIONS if op.method == "GET"], ids=lambda op: op.operation_id)
async def test_every_get_route_refuses_a_parameter_it_does_not_take(api, op):
    worker_id = await create_worker(api)
    reply = await api.get(_concrete(op.path, worker_id), params={"no_such_parameter": "1"})

    assert error_of(reply) == (400, "malformed_request")
    error = reply.json()["error"]
    assert "'no_such_parameter'" in error["message"]
    assert error["details"][0]["path"] == "no_such_parameter"


async def test_a_mistyped_parameter_is_named_with_the_closest_one_the_route_takes(api):
    reply = await api.get(f"/api/runtimes/{RUNTIME}/workers", params={"limt": "1"})

    assert error_of(reply) == (400, "malformed_request")
    message = reply.json()["error"]["message"]
    assert "'limt'" in message and "did you mean 'limit'?" in message
    assert "cursor, label, limit, profile, status" in message


async def test_a_route_without_parameters_says_it_takes_none(api):
    reply = await api.get("/api/runtimes", params={"status": "idle"})

    assert error_of(reply) == (400, "malformed_request")
    assert "takes no query parameters" in reply.json()["error"]["message"]


async def test_state_changing_routes_refuse_unknown_parameters_before_acting(api):
    worker_id = await create_worker(api)
    reply = await api.post(f"/api/runtimes/{RUNTIME}/workers/{worker_id}/stop", params={"force": "1"})

    assert error_of(reply) == (400, "malformed_request")
    # Refused before the call: the worker was not stopped.
    assert (await api.get(f"/api/runtimes/{RUNTIME}/workers/{worker_id}")).json()["status"] == "idle"


async def test_known_parameters_and_an_empty_query_still_work(api):
    assert (await api.get(f"/api/runtimes/{RUNTIME}/workers?")).status_code == 200
    assert (await api.get(f"/api/runtimes/{RUNTIME}/workers", params={"limit": "2"})).status_code == 200


async def test_an_unprintable_or_huge_name_is_not_echoed(api):
    reply = await api.get(f"/api/runtimes/{RUNTIME}/workers?{'x' * 5000}=1")

    assert error_of(reply) == (400, "malformed_request")
    assert "x" * 100 not in reply.text
