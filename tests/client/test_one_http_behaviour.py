"""``health()`` answers rather than raises, and ``trust_env`` sends every call the same way (through a proxy)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from runtime_registry.client import RegistryClient


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens here once the socket is closed


class RecordingProxy:
    """An HTTP proxy on loopback that answers every request itself with ``{"status": "ok"}`` and records its line."""

    def __init__(self) -> None:
        self.request_lines: list[str] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> RecordingProxy:
        self.server = await asyncio.start_server(self._answer, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.request_lines.append(head.split(b"\r\n", 1)[0].decode())
                body = b'{"status":"ok"}'
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(body), body)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.mark.parametrize("trust_env", [False, True], ids=["lean pool", "httpx"])
async def test_health_is_false_when_the_server_is_down(trust_env, monkeypatch):
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    async with RegistryClient(f"http://127.0.0.1:{closed_port()}", trust_env=trust_env, timeout=2) as client:
        assert await client.health() is False


async def test_with_trust_env_every_call_goes_through_the_proxy_the_environment_names(monkeypatch):
    server = f"http://127.0.0.1:{closed_port()}"  # down: only the proxy can answer
    async with RecordingProxy() as proxy:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        async with RegistryClient(server, trust_env=True, timeout=2) as client:
            assert await client.health() is True
        assert proxy.request_lines == [f"GET {server}/healthz HTTP/1.1"]
        async with RegistryClient(server, trust_env=False, timeout=2) as client:
            assert await client.health() is False  # without trust_env the proxy is never asked
        assert len(proxy.request_lines) == 1
