"""The server's httptools protocol answers exactly as uvicorn's does (decision 0260).

``server/httptools_protocol.py`` writes uvicorn's per-request work out again
(to do it in fewer steps); these tests hold its response cycle against
uvicorn's own ``RequestResponseCycle`` on the same messages: the bytes
written (joined: the server holds a head until its body, so the writes are
fewer), the errors raised, and whether the connection is kept or closed.
The timers and the whole protocol run on real sockets in
tests/reliability/test_silent_connections.py and test_keep_alive below.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from runtime_registry.server.httptools_protocol import _Cycle

from ..reliability.app_config import serving_embedded

DATE = (b"date", b"Wed, 25 Nov 2026 09:00:00 GMT")


class _Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(b"<after close>" + bytes(data) if self.closed else bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8000)}.get(name, default)


def _theirs(scope: dict[str, Any], transport: _Transport, keep_alive: bool, done: list[str]) -> RequestResponseCycle:
    cycle = RequestResponseCycle(
        scope=scope,  # type: ignore[arg-type]
        transport=transport,  # type: ignore[arg-type]
        flow=FlowControl(transport),  # type: ignore[arg-type]
        logger=logging.getLogger("test.uvicorn"),
        access_logger=logging.getLogger("test.uvicorn.access"),
        access_log=False,
        default_headers=[DATE],
        message_event=asyncio.Event(),
        expect_100_continue=False,
        keep_alive=keep_alive,
        on_response=lambda: done.append("complete"),
    )
    cycle.more_body = False
    cycle.message_event.set()
    return cycle


def _ours(scope: dict[str, Any], transport: _Transport, keep_alive: bool, done: list[str]) -> _Cycle:
    protocol = SimpleNamespace(
        transport=transport,
        flow=FlowControl(transport),  # type: ignore[arg-type]
        logger=logging.getLogger("test.uvicorn"),
        access_logger=logging.getLogger("test.uvicorn.access"),
        access_log=False,
        server_state=SimpleNamespace(default_headers=[DATE]),
        on_response_complete=lambda: done.append("complete"),
        expect_100_continue=False,
    )
    cycle = _Cycle(protocol, scope, keep_alive)  # type: ignore[arg-type]
    cycle.more_body = False
    cycle.notify()
    return cycle


async def _run(make: Any, method: str, keep_alive: bool, messages: list[dict[str, Any]], fail_after: bool) -> Any:
    """What a cycle made by ``make`` writes and does for an app that sends ``messages``."""
    transport = _Transport()
    done: list[str] = []
    scope = {"type": "http", "method": method, "path": "/", "headers": []}
    cycle = make(scope, transport, keep_alive, done)
    errors: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        request = await receive()
        assert request["type"] == "http.request"
        for message in messages:
            try:
                await send(message)
            except Exception as exc:  # the error is what is compared
                errors.append(f"{type(exc).__name__}: {exc}")
                raise
        if fail_after:
            raise ValueError("the app failed")

    await cycle.run_asgi(app)
    state = (cycle.response_started, cycle.response_complete, cycle.keep_alive, cycle.chunked_encoding)
    return b"".join(transport.written), transport.closed, errors, done, state


_NAMES = st.sampled_from(
    [
        b"content-length",
        b"Content-Length",
        b"transfer-encoding",
        b"connection",
        b"Connection",
        b"content-type",
        b"x-request-id",
        b"location",
        b"date",
        b"X-Mixed",
        b"",
        b"bad name",
        b"bad:name",
        b"caf\xc3\xa9",
    ]
)
_VALUES = st.sampled_from(
    [b"5", b"0", b" 5 ", b"12", b"chunked", b"Chunked", b"close", b"keep-alive, Close", b"keep-alive", b"a\tb", b""]
) | st.binary(max_size=6)
_HEADER = st.tuples(_NAMES, _VALUES) | st.lists(_NAMES | _VALUES, min_size=1, max_size=3).map(tuple)
_BODIES = st.sampled_from([b"", b"hello", b"hel", b"hello world!"])


@st.composite
def _responses(draw: Any) -> tuple[str, bool, list[dict[str, Any]], bool]:
    method = draw(st.sampled_from(["GET", "HEAD", "POST"]))
    keep_alive = draw(st.booleans())
    status = draw(st.sampled_from([200, 202, 204, 304, 404, 500, 600]))
    headers = draw(st.lists(_HEADER, max_size=5))
    start = {"type": "http.response.start", "status": status, "headers": headers}
    parts = draw(st.lists(_BODIES, min_size=0, max_size=3))
    messages: list[dict[str, Any]] = [start]
    for index, body in enumerate(parts):
        messages.append({"type": "http.response.body", "body": body, "more_body": index < len(parts) - 1})
    return method, keep_alive, messages, draw(st.booleans())


def _compare(method: str, keep_alive: bool, messages: list[dict[str, Any]], fail_after: bool) -> None:
    theirs = asyncio.run(_run(_theirs, method, keep_alive, messages, fail_after))
    ours = asyncio.run(_run(_ours, method, keep_alive, messages, fail_after))
    assert ours == theirs


_LENGTH_5 = [(b"content-length", b"5"), (b"content-type", b"text/plain")]


def _case(headers: list[Any], *bodies: bytes, method: str = "GET", keep_alive: bool = True, fails: bool = False) -> Any:
    """An example for the property test: a start with ``headers``, then one body message per ``bodies``."""
    messages: list[dict[str, Any]] = [{"type": "http.response.start", "status": 200, "headers": headers}]
    for index, body in enumerate(bodies):
        messages.append({"type": "http.response.body", "body": body, "more_body": index < len(bodies) - 1})
    return method, keep_alive, messages, fails


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_responses())
@example(_case(_LENGTH_5))  # the app returns after its head
@example(_case(_LENGTH_5, fails=True))  # the app fails after its head
@example(_case(_LENGTH_5, method="HEAD", keep_alive=False))
@example(_case(_LENGTH_5, b"hello", method="HEAD"))
@example(_case([*_LENGTH_5, (b"content-length", b"9")], b"hel", b"lo", keep_alive=False))  # uvicorn takes the first
@example(_case([(b"content-type", b"text/event-stream")], b"data: 1\n\n", b""))  # chunked
@example(_case([(b"content-length", b"5"), (b"x", b"a", b"b")], b"hello"))  # not a pair
@example(_case([(b"X-Upper", b"1"), (b"content-length", b"0")], b""))
@example(_case([(b"x-request-id", b"a\r\nset-cookie: b")], b""))  # a value uvicorn refuses
@example(_case([(b"content-type", b"a\x00"), *_LENGTH_5[:1]], b"hello"))
def test_a_response_is_written_as_uvicorns_cycle_writes_it(response):
    _compare(*response)


def test_a_body_message_before_the_start_is_refused_as_uvicorn_refuses_it():
    body = {"type": "http.response.body", "body": b"x"}
    _compare("GET", True, [body], False)
    after = [
        {"type": "http.response.start", "status": 200, "headers": _LENGTH_5},
        {"type": "http.response.body", "body": b"hello"},
        body,
    ]
    _compare("GET", True, after, False)


@pytest.mark.parametrize("make", [_theirs, _ours], ids=["uvicorn", "ours"])
async def test_receive_waits_for_the_body_and_then_reports_the_disconnect(make):
    transport = _Transport()
    cycle = make({"type": "http", "method": "POST", "headers": []}, transport, True, [])
    cycle.more_body = True
    cycle.body = bytearray(b"part one")
    first = await cycle.receive()  # the message that make() announced
    assert first == {"type": "http.request", "body": b"part one", "more_body": True}
    waiting = asyncio.ensure_future(cycle.receive())
    also_waiting = asyncio.ensure_future(cycle.receive())
    await asyncio.sleep(0)
    assert not waiting.done() and not also_waiting.done()
    cycle.body += b"part two"
    cycle.more_body = False
    (cycle.notify() if isinstance(cycle, _Cycle) else cycle.message_event.set())
    assert await waiting == {"type": "http.request", "body": b"part two", "more_body": False}
    assert (await also_waiting)["type"] == "http.request"  # every receive waiting is woken, as on an Event
    last = asyncio.ensure_future(cycle.receive())
    await asyncio.sleep(0)
    assert not last.done()
    cycle.disconnected = True
    (cycle.notify() if isinstance(cycle, _Cycle) else cycle.message_event.set())
    assert await last == {"type": "http.disconnect"}


async def _scope_seen(head: bytes) -> dict[str, Any]:
    """The scope the app is given for ``head``, through the server's protocol and uvicorn's default config."""
    import uvicorn
    from uvicorn.server import ServerState

    from runtime_registry.server.http_protocol import protocol_class

    seen: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(dict(scope))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    protocol_type = protocol_class("httptools", header_timeout_seconds=60)
    config = uvicorn.Config(app, log_config=None, lifespan="off", http=protocol_type)  # proxy_headers: on
    config.load()
    transport = _Transport()
    protocol: Any = protocol_type(config, ServerState(), {}, asyncio.get_running_loop())  # type: ignore[call-arg]
    protocol.connection_made(transport)
    protocol.data_received(head)
    for _ in range(10):
        await asyncio.sleep(0)
    protocol.connection_lost(None)
    assert transport.written[0].startswith(b"HTTP/1.1 204")
    return seen[0]


async def test_a_request_without_proxy_headers_skips_the_proxy_middleware_and_sees_its_peer():
    scope = await _scope_seen(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
    assert (scope["client"], scope["scheme"]) == (("127.0.0.1", 40000), "http")


@pytest.mark.parametrize("name", [b"X-Forwarded-For", b"x-forwarded-for"])
async def test_a_request_with_proxy_headers_from_a_trusted_peer_is_rewritten_as_uvicorn_does(name):
    head = b"GET /x HTTP/1.1\r\nHost: a\r\n%s: 203.0.113.7\r\nX-Forwarded-Proto: https\r\n\r\n" % name
    scope = await _scope_seen(head)
    assert (scope["client"], scope["scheme"]) == (("203.0.113.7", 0), "https")
    only_proto = await _scope_seen(b"GET /x HTTP/1.1\r\nHost: a\r\nx-forwarded-proto: https\r\n\r\n")
    assert (only_proto["client"], only_proto["scheme"]) == (("127.0.0.1", 40000), "https")


async def test_a_keep_alive_timeout_of_zero_does_not_set_a_timer_for_every_turn_of_the_loop():
    import uvicorn
    from uvicorn.server import ServerState

    from runtime_registry.server.http_protocol import protocol_class

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        # Half of the next head arrives right after the answer, before the keep-alive timer (0 s) fires.
        protocol.data_received(b"GET /y HTTP/1.1\r\n")

    protocol_type = protocol_class("httptools", header_timeout_seconds=0.5)
    config = uvicorn.Config(app, log_config=None, lifespan="off", http=protocol_type, timeout_keep_alive=0)
    config.load()
    transport = _Transport()
    protocol: Any = protocol_type(config, ServerState(), {}, asyncio.get_running_loop())  # type: ignore[call-arg]
    protocol.connection_made(transport)
    fired = protocol._idle_timer_fired
    calls = []
    protocol._idle_timer_fired = lambda: (calls.append(1), fired())
    protocol.data_received(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
    for _ in range(20):
        await asyncio.sleep(0)
    assert transport.written[0].startswith(b"HTTP/1.1 204")
    await asyncio.sleep(0.2)
    assert not transport.closed  # a head was begun: the header timeout (0.5 s) applies, not the keep-alive
    assert len(calls) <= 0.2 / 0.01 + 2, len(calls)
    await asyncio.sleep(0.5)
    assert transport.closed
    protocol.connection_lost(None)


# The protocol's one timer, on real sockets: uvicorn's keep-alive timeout and the server's header timeout.
KEEP_ALIVE = 0.5
HEADER_TIMEOUT = 1.5


@pytest.fixture(scope="module", params=["httptools", "h11"])
def short_keep_alive(request, tmp_path_factory):
    directory = tmp_path_factory.mktemp(f"keep-alive-{request.param}")
    settings = (
        f"header_timeout_seconds = {HEADER_TIMEOUT}\nkeep_alive_timeout_seconds = {KEEP_ALIVE}\n"
        f'http_parser = "{request.param}"'
    )
    with serving_embedded(directory, server_settings=settings) as served:
        yield served


def _asked(server) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", int(server.base_url.rsplit(":", 1)[1])), timeout=10)
    connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data or not data.endswith(b"}"):
        chunk = connection.recv(4096)
        assert chunk, "closed before the answer"
        data += chunk
    assert data.startswith(b"HTTP/1.1 200")
    return connection


def _seconds_until_closed(connection: socket.socket, since: float) -> float:
    assert connection.recv(1) == b"", "the server sent something instead of closing"
    return time.monotonic() - since


def test_an_idle_kept_alive_connection_is_closed_after_the_keep_alive_timeout(short_keep_alive):
    with _asked(short_keep_alive) as connection:
        waited = _seconds_until_closed(connection, time.monotonic())
    assert KEEP_ALIVE * 0.8 <= waited < HEADER_TIMEOUT * 0.9, waited


def test_a_begun_head_after_an_answer_waits_for_the_header_timeout_not_the_keep_alive(short_keep_alive):
    with _asked(short_keep_alive) as connection:
        answered = time.monotonic()
        connection.sendall(b"GET /healthz HTTP/1.1\r\n")
        waited = _seconds_until_closed(connection, answered)
    assert HEADER_TIMEOUT * 0.9 <= waited <= HEADER_TIMEOUT + 2.0, waited


def test_a_connection_asking_every_so_often_within_the_keep_alive_stays_open(short_keep_alive):
    with _asked(short_keep_alive) as connection:
        started = time.monotonic()
        while time.monotonic() - started < HEADER_TIMEOUT * 2:
            time.sleep(KEEP_ALIVE * 0.4)
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            data = b""
            while not data.endswith(b"}"):
                chunk = connection.recv(4096)
                assert chunk, "closed while the client kept asking"
                data += chunk
            assert data.startswith(b"HTTP/1.1 200")
