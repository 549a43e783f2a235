"""A TCP relay on a free loopback port, for faults a real server does not make on request.

``TcpRelay(target_port)`` forwards every connection to ``127.0.0.1:target_port``.
``drop()`` resets every open connection (a dropped network path: the client
sees the stream break, the server sees a disconnect); ``hold()`` makes new and
open connections stop moving bytes until ``release()`` (a network that hangs).
``stream_lag`` (seconds) delays what the server sends on connections that ask
for an event stream (``/events/stream``), and only those: an event stream that
runs behind the plain calls made at the same time. It runs in the test's
event loop and stops with ``aclose()``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

__all__ = ["TcpRelay"]


class TcpRelay:
    """A relay from a free port on 127.0.0.1 to ``target_port``."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        #: Connections accepted so far.
        self.accepted = 0
        #: Seconds by which an event stream's bytes reach the client late.
        self.stream_lag = 0.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> TcpRelay:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aenter__(self) -> TcpRelay:
        return await self.start()

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    def drop(self) -> None:
        """Reset every open connection."""
        for writer in list(self._writers):
            transport = writer.transport
            transport.abort()
        self._writers.clear()

    def hold(self) -> None:
        """Stop moving bytes (connections stay open)."""
        self._flowing.clear()

    def release(self) -> None:
        """Move bytes again."""
        self._flowing.set()

    async def aclose(self) -> None:
        self.release()
        if self._server is not None:
            self._server.close()
        self.drop()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, upstream_writer))
        asked: list[bytes] = []
        pumps = [
            asyncio.ensure_future(self._pump(reader, upstream_writer, seen=asked)),
            asyncio.ensure_future(self._pump(upstream_reader, writer, lag=lambda: self._lag(asked))),
        ]
        self._tasks.update(pumps)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            pass  # the relay is closing; asyncio would log a cancelled connection handler
        finally:
            for pump in pumps:
                pump.cancel()
                self._tasks.discard(pump)
            for end in (writer, upstream_writer):
                self._writers.discard(end)
                end.transport.abort()

    def _lag(self, asked: list[bytes]) -> float:
        return self.stream_lag if asked and b"/events/stream" in asked[0].split(b"\r\n", 1)[0] else 0.0

    async def _pump(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        *,
        seen: list[bytes] | None = None,
        lag: Callable[[], float] = lambda: 0.0,
    ) -> None:
        loop = asyncio.get_running_loop()
        late: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        # Bytes go out in order, each chunk `lag` seconds after it was read.
        delivery = asyncio.ensure_future(self._deliver(late, sink))
        try:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await source.read(65536):
                    if seen is not None and not seen:
                        seen.append(data)
                    await self._flowing.wait()
                    late.put_nowait((loop.time() + lag(), data))
                late.put_nowait((loop.time() + lag(), b""))
                await delivery
        finally:
            delivery.cancel()

    async def _deliver(self, late: asyncio.Queue[tuple[float, bytes]], sink: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(OSError):
            while True:
                due, data = await late.get()
                if not data:
                    return
                if due > loop.time():
                    await asyncio.sleep(due - loop.time())
                sink.write(data)
                await sink.drain()
