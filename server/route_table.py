"""The contract routes found by a path's shape, not by trying each route in turn (decision 0253).

Starlette's :class:`~starlette.routing.Router` tries every route's regular
expression in order, through two coroutine frames of its own, for every
request. The contract's routes (:class:`~runtime_registry.server.endpoints.ContractRoute`)
are plain templates: literal segments and whole-segment ids. So
:class:`RouteTable` indexes them by their number of segments and their last
segment, and answers a request by comparing the few candidates' literal
segments with the path's, in the router's order.

It answers only what it can answer exactly as the router would:

- only the routes at the start of the router's list that are contract
  routes made of plain segments are indexed (a route the router tries first
  must be in the table, or the table could pick a later one);
- only an ``http`` request without a root path and without ids from a mount
  (what :meth:`ContractRoute.matches` itself leaves to Starlette);
- only a full match (a path and method the route has): a ``405``, a
  ``404``, the console and anything else go to the router, which finds its
  answer as it always did.

It is a plain callable returning the route's coroutine, so it adds no frame
of its own. A list of routes changed after the table was built (another list,
or more or fewer routes) is indexed again on the next request.
"""

from __future__ import annotations

import operator
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.routing import BaseRoute, Router
from starlette.types import Receive, Scope, Send

from runtime_registry.server.endpoints import ContractRoute

__all__ = ["RouteTable", "indexed_routes"]

#: A route, its literal segments (position, text), its ids (position, name), and its methods.
_Entry = tuple[ContractRoute, tuple[tuple[int, str], ...], tuple[tuple[int, str], ...], frozenset[str]]


class RouteTable:
    """The router's contract routes, found by a path's shape; everything else is the router's.

    :param router: the app's router; its ``routes`` are read when the table is built and whenever
        that list changes.
    """

    __slots__ = ("_by_last", "_by_length", "_count", "_routes", "router")

    def __init__(self, router: Router) -> None:
        #: The router the table answers for, and that answers everything the table does not.
        self.router = router
        self._index()

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        router = self.router
        if router.routes is not self._routes or len(router.routes) != self._count:
            self._index()
        if scope["type"] != "http" or scope.get("root_path") or scope.get("path_params"):
            return router(scope, receive, send)
        segments = scope["path"].split("/")
        length = len(segments)
        candidates = self._by_last.get((length, segments[-1]))
        if candidates is None:
            candidates = self._by_length.get(length, ())
        for route, literals_of, literals, ids_of, names, methods in candidates:
            if literals_of(segments) == literals:
                found = ids_of(segments)
                if not all(found):
                    continue  # an empty id: not this route's path
                if scope["method"] not in methods:
                    continue  # a 405 unless a later route has the method: the router decides
                if "router" not in scope:
                    scope["router"] = router
                scope["route"] = route
                scope["endpoint"] = route.endpoint
                scope["path_params"] = dict(zip(names, found, strict=True))
                return route.handle(scope, receive, send)
        return router(scope, receive, send)

    def _index(self) -> None:
        routes = self.router.routes
        self._routes = routes
        self._count = len(routes)
        entries = indexed_routes(routes) if self.router.middleware_stack == self.router.app else []
        by_last: dict[tuple[int, str], list[_Matcher]] = {}
        by_length: dict[int, list[_Matcher]] = {}
        for entry in entries:
            literals, ids = entry[1], entry[2]
            length = 1 + max(position for position, _ in (*literals, *ids))
            last = next((text for position, text in literals if position == length - 1), None)
            matcher = _matcher(entry)
            if last is None:
                # Ends with an id: a candidate whatever the path's last segment is.
                by_length.setdefault(length, []).append(matcher)
                for (size, _), listed in by_last.items():
                    if size == length:
                        listed.append(matcher)
            else:
                by_last.setdefault((length, last), [*by_length.get(length, ())]).append(matcher)
        self._by_last = {key: tuple(listed) for key, listed in by_last.items()}
        self._by_length = {key: tuple(listed) for key, listed in by_length.items()}


#: A table entry as the table compares it: the route, a picker of the path's segments at its
#: literal positions and those literals, a picker of the segments at its id positions and the
#: ids' names, and its methods.
_Matcher = tuple[
    ContractRoute,
    Callable[[list[str]], tuple[str, ...]],
    tuple[str, ...],
    Callable[[list[str]], tuple[str, ...]],
    tuple[str, ...],
    frozenset[str],
]


def _matcher(entry: _Entry) -> _Matcher:
    """``entry`` with its segments picked by one C call each, not a Python loop per request (decision 0263)."""
    route, literals, ids, methods = entry
    return (
        route,
        _picker(tuple(position for position, _ in literals)),
        tuple(text for _, text in literals),
        _picker(tuple(position for position, _ in ids)),
        tuple(name for _, name in ids),
        methods,
    )


def _picker(positions: tuple[int, ...]) -> Callable[[list[str]], tuple[str, ...]]:
    """The items of a list at ``positions``, always as a tuple (``itemgetter`` of one position gives the item)."""
    if len(positions) > 1:
        return operator.itemgetter(*positions)
    if positions:
        (only,) = positions
        return lambda items: (items[only],)
    return lambda items: ()


def indexed_routes(routes: Sequence[BaseRoute]) -> list[_Entry]:
    """The leading contract routes of ``routes`` whose templates are plain segments, as table entries.

    Indexing stops at the first route that is not one (a route the router would try before the
    table's candidates must never be skipped).
    """
    entries: list[_Entry] = []
    for route in routes:
        if type(route) is not ContractRoute or not route.path.startswith("/"):
            break
        entry = _entry(route)
        if entry is None:
            break
        entries.append(entry)
    return entries


def _entry(route: ContractRoute) -> _Entry | None:
    """The table entry of ``route``, or ``None`` if a segment mixes text and an id (or names one twice)."""
    literals: list[tuple[int, str]] = []
    ids: list[tuple[int, str]] = []
    for position, segment in enumerate(route.path.split("/")):
        if "{" not in segment and "}" not in segment:
            literals.append((position, segment))
            continue
        name = segment[1:-1].partition(":")[0]
        if segment[:1] != "{" or segment[-1:] != "}" or name not in route.param_convertors:
            return None
        ids.append((position, name))
    if len({name for _, name in ids}) != len(ids):
        return None
    methods: Any = route.methods or ()
    return route, tuple(literals), tuple(ids), frozenset(methods)
