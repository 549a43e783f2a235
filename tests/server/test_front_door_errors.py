"""The front door answers what fails below it (decision 0252): handled errors by their handler, the rest 500.

The app has no Starlette error or exception middleware; these hold what
those did, on the front door itself, over an inner app that fails in chosen
ways.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from registry_core.errors import RegistryError, UnknownWorker
from runtime_registry.server.app import create_app
from runtime_registry.server.middleware.front_door import FrontDoor
from runtime_registry.server.route_table import RouteTable

from .conftest import fake_assembly


class Handled(Exception):
    """An exception the tests' handlers answer (by its class, or as the base of the subclass below)."""


class HandledSubclass(Handled):
    pass


class Unhandled(Exception):
    pass


async def _answer_handled(request: Request, exc: Exception) -> Response:
    return JSONResponse({"handled": type(exc).__name__}, status_code=418)


async def _handler_that_fails(request: Request, exc: Exception) -> Response:
    raise RuntimeError("the handler itself failed")


def _front_door(inner: Any, handlers: dict[type[Exception], Any]) -> FrontDoor:
    """The app's own front door (its checks as create_app configures them) over ``inner``, with ``handlers``."""
    (middleware,) = create_app(assembly=fake_assembly(), access_log=False).user_middleware
    return FrontDoor(inner, **{**middleware.kwargs, "error_handlers": handlers})


def _raising(exc: Exception, *, after_start: bool = False) -> Any:
    async def inner(scope: Any, receive: Any, send: Any) -> None:
        if after_start:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        raise exc

    return inner


async def _get(app: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        return await client.get("/anything")


@pytest.mark.parametrize("exc", [Handled(), HandledSubclass()])
async def test_an_exception_with_a_handler_for_its_class_or_a_base_is_answered_by_it(exc):
    response = await _get(_front_door(_raising(exc), {Handled: _answer_handled}))
    assert response.status_code == 418
    assert response.json() == {"handled": type(exc).__name__}
    assert response.headers["x-request-id"]


async def test_an_exception_without_a_handler_is_a_500_with_the_request_id_only(caplog):
    with caplog.at_level(logging.ERROR, "runtime_registry.server.errors"):
        response = await _get(_front_door(_raising(Unhandled("secret detail")), {Handled: _answer_handled}))
    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    assert response.json()["error"]["code"] == "internal_error"
    assert request_id in response.text and "secret detail" not in response.text
    assert any(request_id in record.getMessage() for record in caplog.records)


async def test_a_handler_that_fails_gives_the_500_and_is_logged(caplog):
    with caplog.at_level(logging.ERROR, "runtime_registry.server.errors"):
        response = await _get(_front_door(_raising(Handled()), {Handled: _handler_that_fails}))
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "the handler itself failed" not in response.text
    assert any("the handler of Handled failed" in record.getMessage() for record in caplog.records)


async def test_a_handled_exception_after_the_response_started_is_not_answered_twice(caplog):
    front_door = _front_door(_raising(Handled(), after_start=True), {Handled: _answer_handled})
    sent: list[Any] = []

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http", "method": "GET", "path": "/anything", "raw_path": b"/anything", "root_path": "",
        "query_string": b"", "headers": [(b"host", b"127.0.0.1")], "http_version": "1.1", "scheme": "http",
        "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000),
    }  # fmt: skip
    with caplog.at_level(logging.ERROR, "runtime_registry.server.errors"):
        await front_door(scope, receive, send)
    # The 200 that started stands, unfinished (the server closes the connection); no second answer.
    assert [message["type"] for message in sent] == ["http.response.start"]
    assert sent[0]["status"] == 200
    assert any("failed" in record.getMessage() for record in caplog.records)


async def test_the_app_is_the_front_door_over_the_router_with_the_apps_handlers():
    app = create_app(assembly=fake_assembly(), access_log=False)
    stack = app.build_middleware_stack()
    assert isinstance(stack, FrontDoor)
    assert isinstance(stack.app, RouteTable)
    assert stack.app.router is app.router
    raising = _raising(UnknownWorker("no such worker", runtime_id="r", worker_id="w"))
    response = await _get(_front_door(raising, {RegistryError: app.exception_handlers[RegistryError]}))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_worker"


async def test_a_handler_a_host_adds_to_the_app_is_used_by_class_and_by_status():
    """A host embedding create_app's app may add handlers, as to any Starlette app."""
    app = create_app(assembly=fake_assembly(), access_log=False)
    app.add_exception_handler(Handled, _answer_handled)

    async def teapot(request: Request, exc: Exception) -> Response:
        return JSONResponse({"status": 404}, status_code=418)

    app.add_exception_handler(404, teapot)

    async def raises_handled(request: Request) -> Response:
        raise HandledSubclass

    app.router.add_route("/handled", raises_handled)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        handled = await client.get("/handled")
        unrouted = await client.get("/no/such/route")
    assert (handled.status_code, handled.json()) == (418, {"handled": "HandledSubclass"})
    assert (unrouted.status_code, unrouted.json()) == (418, {"status": 404})
