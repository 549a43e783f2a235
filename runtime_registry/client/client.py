"""``RegistryClient``: the typed async client of the HTTP API (docs/api.md), over httpx.

One method per route, each returning the model the server rendered
(``registry_core.models``, structured by ``registry_core``'s converter) or
raising the typed error of the answer's envelope (:mod:`.errors`). Pages have
async iterators; the live stream is an :class:`~.subscription.EventSubscription`
that resumes by itself.

Ids are checked here with the server's own rules before they become part of a
URL, so a hostile id can never reach another path (it is ``InvalidIdentifier``,
as the server would answer).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote, urlencode, urlsplit

import httpx

from registry_core.converter import unstructure
from registry_core.errors import RegistryError
from registry_core.identifiers import validate_identifier
from registry_core.models import (
    BusyPolicy,
    CreateWorkerRequest,
    Event,
    EventPage,
    InputAccepted,
    InputKind,
    InputRequest,
    PluginInfo,
    ProfileList,
    RuntimeList,
    RuntimeSummary,
    TranscriptEntry,
    TranscriptPage,
    Worker,
    WorkerActionResult,
    WorkerOverview,
    WorkerPage,
)
from runtime_registry.client.connections import ConnectionLost, ConnectionPool, ProtocolError
from runtime_registry.client.errors import ConnectionFailed, MalformedResponse, RequestTimedOut, error_from_answer
from runtime_registry.client.rows import decoded, structured, worker_from_body, worker_page_from_body
from runtime_registry.client.subscription import EventSubscription

__all__ = ["DEFAULT_MAX_CONNECTIONS", "DEFAULT_TIMEOUT_SECONDS", "RegistryClient"]

T = TypeVar("T")

#: Seconds a request may take (connect, each read, each write) by default.
DEFAULT_TIMEOUT_SECONDS = 10.0
#: Connections the client keeps open to the server at most, by default.
DEFAULT_MAX_CONNECTIONS = 20

_JSON_HEADERS = {"Content-Type": "application/json"}
_JSON_CONTENT_LINE = b"Content-Type: application/json\r\n"


class RegistryClient:
    """A client of one runtime-registry server.

    :param base_url: the server, e.g. ``http://127.0.0.1:8000`` (a path prefix is kept).
    :param token: the bearer token, if the server has one.
    :param timeout: seconds for connecting and for each read and write.
    :param max_connections: connections open to the server at most; more
        concurrent requests wait for one (``max_keepalive`` of them stay open).
    :param max_keepalive: idle connections kept for reuse (default: ``max_connections``).
    :param trust_env: whether every call reads proxy settings from the environment
        (``HTTP_PROXY``, ``NO_PROXY``...), as httpx does. Off by default: the
        token goes to the server only.
    :param transport: an httpx transport, e.g. ``httpx.ASGITransport(app=...)``
        to talk to an app in the same process.

    Over plain ``http://`` (without ``transport`` and without ``trust_env``),
    the JSON calls use a lean keep-alive pool of their own
    (:mod:`.connections`, decision 0099); httpx serves the event stream,
    ``https://``, custom transports and — so that every call goes the same
    way, through a proxy if the environment names one — every call of a
    client with ``trust_env=True`` (decision 0165).

    Use it as ``async with RegistryClient(url) as client: ...``, or call :meth:`aclose`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_keepalive: int | None = None,
        trust_env: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout
        self._pool: ConnectionPool | None = None
        self._prefix = ""
        parts = urlsplit(base_url)
        # The lean pool speaks to the server directly; with trust_env the
        # environment may name a proxy, so every call goes through httpx.
        if transport is None and not trust_env and parts.scheme == "http" and parts.hostname:
            self._pool = ConnectionPool(
                parts.hostname, parts.port or 80, host_header=parts.netloc, max_connections=max_connections
            )
            # Ids and parameters are ASCII by construction; a prefix in the URL is percent-encoded here.
            self._prefix = quote(parts.path.rstrip("/"), safe="/%")
            self._header_lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode("latin-1")
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_connections if max_keepalive is None else max_keepalive,
            ),
            trust_env=trust_env,
            follow_redirects=False,
            transport=transport,
        )

    async def aclose(self) -> None:
        """Close every connection; the client cannot be used afterwards."""
        if self._pool is not None:
            await self._pool.aclose()
        await self._http.aclose()

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    # -- the server ------------------------------------------------------------

    async def health(self) -> bool:
        """Whether ``/healthz`` answers ``200 {"status": "ok"}``: ``False`` also when the server is down,
        does not answer in time, or answers anything else."""
        try:
            data = await self._json("GET", "/healthz", expect=200)
        except RegistryError:  # ConnectionFailed, RequestTimedOut, a typed error answer, MalformedResponse
            return False
        return isinstance(data, Mapping) and data.get("status") == "ok"

    async def openapi(self) -> dict[str, Any]:
        """``GET /openapi.json``: the server's OpenAPI 3.1 document, as JSON data."""
        data = await self._json("GET", "/openapi.json", expect=200)
        if not isinstance(data, dict):
            raise MalformedResponse("the OpenAPI document is not a JSON object")
        return data

    async def list_plugins(self) -> tuple[PluginInfo, ...]:
        """``GET /api/plugins``: every discovered plugin and its state."""
        data = await self._json("GET", "/api/plugins", expect=200)
        if not isinstance(data, Mapping):
            raise MalformedResponse("the plugin list is not a JSON object")
        return structured(data.get("items"), tuple[PluginInfo, ...])

    async def list_runtimes(self) -> RuntimeList:
        """``GET /api/runtimes``: every runtime, in configuration order."""
        return await self._model("GET", "/api/runtimes", RuntimeList, expect=200)

    async def get_runtime(self, runtime_id: str) -> RuntimeSummary:
        """``GET /api/runtimes/{runtime_id}``: status, capabilities, limits."""
        return await self._model("GET", _runtime_path(runtime_id), RuntimeSummary, expect=200)

    async def list_profiles(self, runtime_id: str) -> ProfileList:
        """``GET /api/runtimes/{runtime_id}/profiles``: the profiles a create may name, the default marked.

        ``UnsupportedOperation`` (405) where the runtime's kind has no profiles.
        """
        return await self._model("GET", _runtime_path(runtime_id) + "/profiles", ProfileList, expect=200)

    async def list_all_workers(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        status: str | Iterable[str] = (),
        profile: str | Iterable[str] = (),
        label: str | Iterable[str] = (),
    ) -> WorkerOverview:
        """``GET /api/workers``: one page of the read-only overview across runtimes.

        ``status``, ``profile`` and ``label`` filter it as in :meth:`list_workers`.
        """
        params: dict[str, str | list[str]] = {**_params(limit=limit, cursor=cursor)}
        params.update(_filters(status=status, profile=profile, label=label))
        return await self._model("GET", "/api/workers", WorkerOverview, expect=200, params=params)

    # -- workers -----------------------------------------------------------------

    async def list_workers(
        self,
        runtime_id: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        status: str | Iterable[str] = (),
        profile: str | Iterable[str] = (),
        label: str | Iterable[str] = (),
    ) -> WorkerPage:
        """``GET .../workers``: one page of a runtime's workers after the opaque ``cursor``.

        ``status``, ``profile`` and ``label`` (a value or several: any of them
        matches) list only the workers they match; a page may then hold fewer
        than ``limit`` workers, even none, and still carry a ``next_cursor``.
        A cursor continues after the same worker under any filter.
        """
        return worker_page_from_body(
            await self.list_workers_body(
                runtime_id, limit=limit, cursor=cursor, status=status, profile=profile, label=label
            )
        )

    async def list_workers_body(
        self,
        runtime_id: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        status: str | Iterable[str] = (),
        profile: str | Iterable[str] = (),
        label: str | Iterable[str] = (),
    ) -> bytes:
        """:meth:`list_workers`' answer undecoded: the JSON bytes of a ``200`` (see :meth:`get_worker_body`)."""
        path = _runtime_path(runtime_id) + "/workers"
        params: dict[str, str | list[str]] = {**_params(limit=limit, cursor=cursor)}
        params.update(_filters(status=status, profile=profile, label=label))
        return await self._body("GET", path, expect=200, params=params)

    async def create_worker(self, runtime_id: str, request: CreateWorkerRequest | None = None) -> Worker:
        """``POST .../workers``: a new worker (``201``)."""
        body = _compact(unstructure(request)) if request is not None else {}
        return worker_from_body(await self._body("POST", _runtime_path(runtime_id) + "/workers", expect=201, body=body))

    async def get_worker(self, runtime_id: str, worker_id: str) -> Worker:
        """``GET .../workers/{worker_id}``."""
        return worker_from_body(await self.get_worker_body(runtime_id, worker_id))

    async def get_worker_body(self, runtime_id: str, worker_id: str) -> bytes:
        """``GET .../workers/{worker_id}``'s body, undecoded: the JSON bytes of a ``200``.

        For a caller that decodes the row itself (a ``remote`` front caches
        workers by their bytes: decision 0202). An error answer raises its
        typed error as :meth:`get_worker` does; the body itself is not checked.
        """
        return await self._body("GET", _worker_path(runtime_id, worker_id), expect=200)

    async def delete_worker(self, runtime_id: str, worker_id: str) -> WorkerActionResult:
        """``DELETE .../workers/{worker_id}``: remove the worker for good."""
        return await self._model("DELETE", _worker_path(runtime_id, worker_id), WorkerActionResult, expect=200)

    async def send_input(
        self,
        runtime_id: str,
        worker_id: str,
        content: str | InputRequest,
        *,
        kind: InputKind = InputKind.USER,
        if_busy: BusyPolicy | str = BusyPolicy.REJECT,
    ) -> InputAccepted:
        """``POST .../input`` (``202``). While a turn runs, ``if_busy`` decides: ``reject`` (the default)
        raises ``WorkerBusy``; ``enqueue`` answers ``status="queued"`` with ``queue_position`` (or raises
        ``QueueFull``); ``interrupt`` ends the running turn. A policy the runtime does not list in
        ``capabilities.busy_policies`` raises ``InvalidRequest``."""
        request = content if isinstance(content, InputRequest) else InputRequest(content, kind, BusyPolicy(if_busy))
        body = unstructure(request)
        if request.if_busy is BusyPolicy.REJECT:
            # The default goes unsaid, so a server older than the field takes the body.
            body.pop("if_busy", None)
        path = _worker_path(runtime_id, worker_id) + "/input"
        return await self._model("POST", path, InputAccepted, expect=202, body=body)

    async def cancel_worker(self, runtime_id: str, worker_id: str, *, queued: str | None = None) -> WorkerActionResult:
        """``POST .../cancel``: end the turn in flight, if any; ``queued`` is ``"drop"`` (the server's
        default: the inputs queued behind it are dropped) or ``"keep"`` (the next one starts)."""
        return await self._model(
            "POST",
            _worker_path(runtime_id, worker_id) + "/cancel",
            WorkerActionResult,
            expect=200,
            params=_params(queued=queued),
        )

    async def stop_worker(self, runtime_id: str, worker_id: str) -> WorkerActionResult:
        """``POST .../stop``: stop the worker for good (idempotent)."""
        return await self._model("POST", _worker_path(runtime_id, worker_id) + "/stop", WorkerActionResult, expect=200)

    async def read_transcript(
        self, runtime_id: str, worker_id: str, *, start: int | None = None, limit: int | None = None
    ) -> TranscriptPage:
        """``GET .../transcript``: entries from ``start`` (1-based)."""
        path = _worker_path(runtime_id, worker_id) + "/transcript"
        return await self._model("GET", path, TranscriptPage, expect=200, params=_params(start=start, limit=limit))

    async def read_events(
        self, runtime_id: str, *, cursor: int | None = None, limit: int | None = None, worker_id: str | None = None
    ) -> EventPage:
        """``GET .../events`` (or one worker's): events after ``cursor``; ``CursorExpired`` when they are gone."""
        path = (_worker_path(runtime_id, worker_id) if worker_id is not None else _runtime_path(runtime_id)) + "/events"
        return await self._model("GET", path, EventPage, expect=200, params=_params(cursor=cursor, limit=limit))

    # -- pages as iterators ------------------------------------------------------

    async def iter_workers(
        self,
        runtime_id: str,
        *,
        page_size: int | None = None,
        status: str | Iterable[str] = (),
        profile: str | Iterable[str] = (),
        label: str | Iterable[str] = (),
    ) -> AsyncIterator[Worker]:
        """Every worker of a runtime (that the filters match), page after page."""
        cursor: str | None = None
        while True:
            page = await self.list_workers(
                runtime_id, limit=page_size, cursor=cursor, status=status, profile=profile, label=label
            )
            for worker in page.items:
                yield worker
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def iter_all_workers(
        self,
        *,
        page_size: int | None = None,
        status: str | Iterable[str] = (),
        profile: str | Iterable[str] = (),
        label: str | Iterable[str] = (),
    ) -> AsyncIterator[Worker]:
        """Every worker of the overview across runtimes (that the filters match), page after page."""
        cursor: str | None = None
        while True:
            page = await self.list_all_workers(
                limit=page_size, cursor=cursor, status=status, profile=profile, label=label
            )
            for worker in page.items:
                yield worker
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def iter_transcript(
        self, runtime_id: str, worker_id: str, *, start: int = 1, page_size: int | None = None
    ) -> AsyncIterator[TranscriptEntry]:
        """A worker's transcript from ``start`` to its end as it is now."""
        next_start: int | None = start
        while next_start is not None:
            page = await self.read_transcript(runtime_id, worker_id, start=next_start, limit=page_size)
            for entry in page.items:
                yield entry
            next_start = page.next_start

    async def iter_events(
        self, runtime_id: str, *, cursor: int | None = None, worker_id: str | None = None, page_size: int | None = None
    ) -> AsyncIterator[Event]:
        """The events after ``cursor`` that exist now, page after page (see :meth:`subscribe` to follow new ones)."""
        while True:
            page = await self.read_events(runtime_id, cursor=cursor, limit=page_size, worker_id=worker_id)
            for event in page.events:
                yield event
            if not page.has_more:
                return
            cursor = page.next_cursor

    def subscribe(
        self,
        runtime_id: str,
        *,
        cursor: int | None = None,
        reconnect_attempts: int = 10,
        reconnect_delay: float = 0.2,
        idle_timeout: float = 60.0,
    ) -> EventSubscription:
        """Follow a runtime's events live over ``GET .../events/stream``.

        Starts after ``cursor`` (``None``: the oldest retained event). After a
        dropped connection it reconnects by itself with ``Last-Event-ID`` (up
        to ``reconnect_attempts`` times in a row, waiting ``reconnect_delay``
        seconds, doubling up to 5 s); a stream silent for ``idle_timeout``
        seconds (no event, no heartbeat) counts as dropped. It raises
        ``CursorExpired`` when the server says the resume point is gone —
        never skips silently. Use ``async with client.subscribe(...) as events:
        async for event in events: ...``.
        """
        return EventSubscription(
            self._http,
            _runtime_path(runtime_id) + "/events/stream",
            cursor=cursor,
            reconnect_attempts=reconnect_attempts,
            reconnect_delay=reconnect_delay,
            idle_timeout=idle_timeout,
        )

    # -- plumbing ------------------------------------------------------------------

    async def _model(
        self,
        method: str,
        path: str,
        model: type[T],
        *,
        expect: int,
        params: Mapping[str, str | list[str]] | None = None,
        body: Any = None,
    ) -> T:
        return structured(await self._json(method, path, expect=expect, params=params, body=body), model)

    async def _json(
        self,
        method: str,
        path: str,
        *,
        expect: int,
        params: Mapping[str, str | list[str]] | None = None,
        body: Any = None,
    ) -> Any:
        return decoded(await self._body(method, path, expect=expect, params=params, body=body))

    async def _body(
        self,
        method: str,
        path: str,
        *,
        expect: int,
        params: Mapping[str, str | list[str]] | None = None,
        body: Any = None,
    ) -> bytes:
        """The body of an answer with status ``expect``; any other answer raises its typed error."""
        content = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        if self._pool is not None:
            return await self._body_over_pool(method, path, expect=expect, params=params, content=content)
        try:
            response = await self._http.request(
                method, path, params=params, content=content, headers=_JSON_HEADERS if content is not None else None
            )
        except httpx.TimeoutException:
            raise RequestTimedOut("the server did not answer in time") from None
        except httpx.HTTPError:
            # httpx's own message names the URL: not repeated here, so a
            # caller can show this error anywhere.
            raise ConnectionFailed("the server could not be reached") from None
        if response.status_code != expect:
            raise error_from_answer(response.status_code, response.content, response.headers.get("content-type", ""))
        return response.content

    async def _body_over_pool(
        self,
        method: str,
        path: str,
        *,
        expect: int,
        params: Mapping[str, str | list[str]] | None,
        content: bytes | None,
    ) -> bytes:
        assert self._pool is not None
        target = self._prefix + path + ("?" + urlencode(params, doseq=True) if params else "")
        headers = self._header_lines + (_JSON_CONTENT_LINE if content is not None else b"")
        try:
            answer = await self._pool.request(method, target, headers, content, timeout=self.timeout)
        except TimeoutError:
            raise RequestTimedOut("the server did not answer in time") from None
        except ConnectionLost:
            raise ConnectionFailed("the server could not be reached") from None
        except ProtocolError:
            raise MalformedResponse("the server's answer is not HTTP this client reads") from None
        if answer.status != expect:
            raise error_from_answer(answer.status, answer.body, answer.content_type)
        return answer.body


def _runtime_path(runtime_id: str) -> str:
    return "/api/runtimes/" + validate_identifier(runtime_id, field="runtime_id")


def _worker_path(runtime_id: str, worker_id: str) -> str:
    return _runtime_path(runtime_id) + "/workers/" + validate_identifier(worker_id, field="worker_id")


def _params(**values: int | str | None) -> dict[str, str]:
    return {name: str(value) for name, value in values.items() if value is not None}


def _filters(**values: str | Iterable[str]) -> dict[str, list[str]]:
    """Repeatable list filters: one value or several, as ``name=value`` once per value."""
    return {name: [value] if isinstance(value, str) else list(value) for name, value in values.items() if value}


def _compact(value: Any) -> Any:
    """A request body without ``null`` fields: the server reads a missing field as its default."""
    if isinstance(value, dict):
        return {key: _compact(item) for key, item in value.items() if item is not None}
    return value
