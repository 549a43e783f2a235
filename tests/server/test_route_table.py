"""The route table (decision 0253) picks the route Starlette's router picks, or leaves the request to it.

- For any path, method, root path, inherited ids and scope type, the route
  that handles the request and what the scope holds when it does are the
  router's, over the app's own routes and over lists where the table must
  stop indexing early (a plain route first, a route with a mixed segment).
- A list of routes changed after the table was built is indexed again.
- A contract route's request is answered without the router.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Route, Router

from runtime_registry.server.app import create_app
from runtime_registry.server.endpoints import ContractRoute
from runtime_registry.server.route_table import RouteTable, indexed_routes

from .conftest import fake_assembly


async def _never(request):  # routes here are never answered: which one is picked is compared
    raise AssertionError


def _contract_routes() -> list[BaseRoute]:
    return list(create_app(assembly=fake_assembly(), access_log=False).router.routes)


def _templates() -> list[str]:
    return [route.path for route in _contract_routes() if isinstance(route, Route)]


TEMPLATES = _templates()

#: Route lists: the app's; one a plain route shadows; one with a mixed segment midway; one with duplicates.
ROUTE_LISTS: dict[str, Callable[[], list[BaseRoute]]] = {
    "app": _contract_routes,
    "plain first": lambda: [Route("/api/runtimes/{runtime_id}", _never, methods=["GET"]), *_contract_routes()],
    "mixed midway": lambda: [
        *_contract_routes()[:3],
        ContractRoute("/api/runtimes/w-{worker_id}", _never, methods=["GET"], name="mixed"),
        *_contract_routes()[3:],
    ],
    "twice": lambda: [*_contract_routes(), *_contract_routes()],
}

segment = st.sampled_from(["api", "runtimes", "workers", "input", "events", "rt", "w-1", "", "a b", "x\n", "ü"])


def _filled(template: str, ids: list[str], tail: str) -> str:
    parts = [ids.pop() if part.startswith("{") and ids else part for part in template.split("/")]
    return "/".join(parts) + tail


paths = st.one_of(
    st.builds(
        _filled,
        st.sampled_from(TEMPLATES),
        st.lists(segment, min_size=2, max_size=2),
        st.sampled_from(["", "/", "/x", "\n"]),
    ),
    st.lists(segment, min_size=0, max_size=7).map(lambda parts: "/" + "/".join(parts)),
    st.sampled_from(TEMPLATES).map(lambda template: template.replace("{", "").replace("}", "")),
)


def _recording(
    routes: list[BaseRoute], picked: list[tuple[Any, dict[str, Any]]] | None = None
) -> tuple[Router, list[tuple[Any, dict[str, Any]]]]:
    """A router over ``routes`` whose routes note in ``picked`` that they were picked, and with which scope."""
    picked = [] if picked is None else picked
    for route in routes:

        async def handle(scope, receive, send, route=route):
            picked.append((route, dict(scope)))

        route.handle = handle  # type: ignore[method-assign]
    router = Router(routes, redirect_slashes=False)
    return router, picked


async def _answer(asgi, scope: dict[str, Any], picked: list[Any]) -> tuple[Any, ...]:
    """Who answered ``scope`` (a route and its scope, or the router's 404), through ``asgi``."""
    picked.clear()
    sent: list[Any] = []

    async def send(message):
        sent.append(message)

    try:
        await asgi(scope, None, send)
    except HTTPException as exc:
        return ("raised", exc.status_code)
    if sent:
        return ("sent", sent)
    ((route, seen),) = picked
    return (route, seen)


@settings(max_examples=300, deadline=None)
@given(
    routes=st.sampled_from(sorted(ROUTE_LISTS)),
    path=paths,
    method=st.sampled_from(["GET", "HEAD", "POST", "DELETE", "PUT"]),
    root_path=st.sampled_from(["", "/prefix", "/api"]),
    inherited=st.sampled_from([None, {}, {"outer": "x"}]),
    kind=st.sampled_from(["http", "websocket"]),
)
# An empty id; a path that is a template only once its root path is counted; ids from a mount.
@example(routes="app", path="/api/runtimes//workers", method="GET", root_path="", inherited=None, kind="http")
@example(routes="app", path="/runtimes", method="GET", root_path="/api", inherited=None, kind="http")
@example(routes="app", path="/api/runtimes/rt", method="GET", root_path="", inherited={"outer": "x"}, kind="http")
def test_the_table_picks_what_the_router_picks(routes, path, method, root_path, inherited, kind):
    router, picked = _recording(ROUTE_LISTS[routes]())
    table = RouteTable(router)
    # Inside an app, as in the server: the router raises a 404 for the front door to answer.
    scope: dict[str, Any] = {
        "type": kind,
        "path": root_path + path,
        "root_path": root_path,
        "method": method,
        "app": None,
    }
    if inherited is not None:
        scope["path_params"] = inherited
    theirs = asyncio.run(_answer(router, dict(scope), picked))
    ours = asyncio.run(_answer(table, dict(scope), picked))
    assert ours == theirs


def test_the_leading_contract_routes_are_indexed_up_to_the_first_other():
    app_routes = _contract_routes()
    contract = [route for route in app_routes if isinstance(route, ContractRoute)]
    assert app_routes[: len(contract)] == contract  # the console's routes come after the contract's
    assert [entry[0] for entry in indexed_routes(app_routes)] == contract
    assert indexed_routes(ROUTE_LISTS["plain first"]()) == []
    mixed = ROUTE_LISTS["mixed midway"]()
    assert [entry[0] for entry in indexed_routes(mixed)] == mixed[:3]


async def test_routes_changed_after_the_table_was_built_are_indexed_again():
    router, picked = _recording(_contract_routes())
    table = RouteTable(router)
    scope = {"type": "http", "path": "/api/runtimes/rt", "root_path": "", "method": "GET", "app": None}
    first = await _answer(table, dict(scope), picked)
    assert first[0].path == "/api/runtimes/{runtime_id}"

    shadow = ContractRoute("/api/runtimes/{name}", _never, methods=["GET"], name="shadow")
    router.routes.insert(0, _recording([shadow], picked)[0].routes[0])
    assert (await _answer(table, dict(scope), picked))[0] is router.routes[0]

    other = ContractRoute("/api/runtimes/{other}", _never, methods=["GET"], name="other")
    router.routes = [_recording([other], picked)[0].routes[0], *router.routes[1:]]  # another list, as long
    assert (await _answer(table, dict(scope), picked))[0] is other


class _CountingRouter(Router):
    calls = 0

    async def app(self, scope, receive, send):
        type(self).calls += 1
        await super().app(scope, receive, send)


@pytest.mark.parametrize(
    ("method", "path", "by_router"),
    [
        ("POST", "/api/runtimes/rt/workers/w-1/input", False),
        ("GET", "/api/runtimes/rt/workers/w-1", False),
        ("HEAD", "/api/runtimes/rt/workers/w-1", False),
        ("PUT", "/api/runtimes/rt/workers/w-1/input", True),  # 405
        ("GET", "/nowhere", True),  # 404
    ],
)
async def test_a_contract_route_is_answered_without_the_router(method, path, by_router):
    _CountingRouter.calls = 0
    routes = _contract_routes()
    picked: list[Any] = []
    for route in routes:

        async def handle(scope, receive, send, route=route):
            picked.append(route)

        route.handle = handle  # type: ignore[method-assign]
    router = _CountingRouter(routes, redirect_slashes=False)
    scope = {"type": "http", "path": path, "root_path": "", "method": method, "app": None}
    with contextlib.suppress(HTTPException):  # the router's 404
        await RouteTable(router)(scope, None, None)
    assert (_CountingRouter.calls == 1) is by_router


async def test_a_router_with_middleware_of_its_own_is_left_to_answer_everything():
    _CountingRouter.calls = 0
    routes = _contract_routes()
    for route in routes:

        async def handle(scope, receive, send):
            return None

        route.handle = handle  # type: ignore[method-assign]
    router = _CountingRouter(routes, redirect_slashes=False)
    inner = router.middleware_stack

    async def layer(scope, receive, send):
        await inner(scope, receive, send)

    router.middleware_stack = layer
    scope = {"type": "http", "path": "/api/runtimes/rt", "root_path": "", "method": "GET", "app": None}
    await RouteTable(router)(scope, None, None)
    assert _CountingRouter.calls == 1
