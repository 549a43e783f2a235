"""Nothing the API answers contains a path, socket, session id, token, credential, environment value or traceback."""

from __future__ import annotations

import os

import pytest

from runtime_registry.testing.conformance import find_path_like

from .fakes import SECRET
from .tour import TOKEN, take_tour, touring_client


@pytest.fixture
async def visits(tmp_path, monkeypatch):
    monkeypatch.setenv("RUNTIME_REGISTRY_TOUR_SECRET", "env-value-5a4b3c2d")
    async with touring_client(tmp_path) as client:
        yield await take_tour(client), tmp_path


async def test_the_tour_reaches_every_status_the_contract_has(visits):
    statuses = {visit.response.status_code for visit in visits[0]}
    assert statuses >= {200, 201, 202, 400, 401, 404, 405, 409, 410, 413, 415, 422, 500, 503, 504}


async def test_no_body_or_header_holds_a_secret(visits):
    found, tmp_path = visits
    secrets = [
        TOKEN,
        SECRET,
        "s3cr3t",
        str(tmp_path),
        "secret-data-dir",
        "secret-workspace",
        "env-value-5a4b3c2d",
        os.getcwd(),
        "Traceback",
    ]
    for visit in found:
        text = visit.response.text + "".join(f"{k}: {v}\n" for k, v in visit.response.headers.items())
        assert [s for s in secrets if s in text] == [], (visit.method, visit.response.request.url)


async def test_no_json_body_holds_anything_path_like(visits):
    for visit in visits[0]:
        if visit.response.headers.get("content-type", "").startswith("application/json"):
            assert find_path_like(visit.response.json()) == [], (visit.method, visit.response.request.url)


async def test_an_internal_error_says_only_that_and_its_request_id(visits):
    internal = [v.response.json()["error"] for v in visits[0] if v.response.status_code == 500]
    assert internal and all(set(error) == {"code", "message", "request_id"} for error in internal)
