"""The client's lean keep-alive pool (JSON calls over http://): reuse, limits, bodies, closed and broken connections."""

from __future__ import annotations

import asyncio

import pytest

from runtime_registry.client import ConnectionFailed, MalformedResponse, RegistryClient, RequestTimedOut

from ..support.canned_http import CannedServer, answer

HEALTHY = answer(200, b'{"status":"ok"}')


async def test_sequential_calls_reuse_one_connection():
    async with CannedServer(HEALTHY) as canned, RegistryClient(canned.base_url) as client:
        for _ in range(20):
            assert await client.health()
    assert canned.connections == 1 and len(canned.requests) == 20


async def test_concurrent_calls_stay_within_max_connections():
    async with CannedServer(HEALTHY) as canned, RegistryClient(canned.base_url, max_connections=3) as client:
        assert all(await asyncio.gather(*(client.health() for _ in range(30))))
    assert canned.connections <= 3


async def test_a_chunked_body_is_read_whole():
    body = b'{"status":"ok"}'
    chunked = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunked += b"5\r\n" + body[:5] + b"\r\n" + b"%x\r\n" % (len(body) - 5) + body[5:] + b"\r\n0\r\n\r\n"
    async with CannedServer(chunked) as canned, RegistryClient(canned.base_url) as client:
        assert await client.health()
        assert await client.health()
    assert canned.connections == 1


async def test_a_body_delimited_by_close_is_read_whole_and_the_connection_not_reused():
    close_delimited = b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"status":"ok"}'
    async with CannedServer(close_delimited, close_after=True) as canned, RegistryClient(canned.base_url) as client:
        assert await client.health()
        assert await client.health()
    assert canned.connections == 2


async def test_a_server_that_closes_after_each_answer_is_served_on_new_connections():
    async with CannedServer(HEALTHY, close_after=True) as canned, RegistryClient(canned.base_url) as client:
        for _ in range(5):
            assert await client.health()
            await asyncio.sleep(0.01)
    assert canned.connections == 5


async def test_a_post_the_server_closes_on_without_answering_fails_and_is_not_sent_twice():
    async with CannedServer(b"", close_after=True) as canned, RegistryClient(canned.base_url) as client:
        with pytest.raises(ConnectionFailed):
            await client.send_input("rt", "w-1", "hello")
    assert len(canned.requests) == 1


@pytest.mark.parametrize(
    "response",
    [
        b"SMTP 220 hello\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000 + b"\r\n\r\n",
    ],
    ids=["not-http", "bad-length", "huge-head"],
)
async def test_an_answer_that_is_not_http_is_malformed(response):
    async with CannedServer(response) as canned, RegistryClient(canned.base_url) as client:
        with pytest.raises(MalformedResponse):
            await client.openapi()
        assert await client.health() is False


async def test_a_timed_out_call_leaves_the_pool_usable():
    async with CannedServer(None) as canned, RegistryClient(canned.base_url, timeout=0.2) as client:
        with pytest.raises(RequestTimedOut):
            await client.openapi()  # (health() answers False rather than raising)
        canned.response = HEALTHY
        assert await client.health()  # on a new connection: the timed-out one was closed
    assert canned.connections == 2


async def test_a_path_prefix_in_the_base_url_is_kept():
    async with CannedServer(HEALTHY) as canned, RegistryClient(canned.base_url + "/registry/") as client:
        assert await client.health()
    assert canned.requests[0].startswith(b"GET /registry/healthz HTTP/1.1\r\n")


async def test_the_token_and_host_are_sent():
    async with CannedServer(HEALTHY) as canned, RegistryClient(canned.base_url, token="t0k3n") as client:
        assert await client.health()
    head = canned.requests[0].decode()
    assert "Authorization: Bearer t0k3n\r\n" in head and f"Host: 127.0.0.1:{canned.port}\r\n" in head


async def test_a_prefix_that_is_not_ascii_is_percent_encoded():
    async with CannedServer(HEALTHY) as canned, RegistryClient(canned.base_url + "/régistre") as client:
        assert await client.health()
    assert canned.requests[0].startswith(b"GET /r%C3%A9gistre/healthz HTTP/1.1\r\n")
