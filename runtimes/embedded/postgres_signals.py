"""Signals between the replicas of one runtime, over PostgreSQL's LISTEN/NOTIFY (decision 0134).

Two kinds travel on the runtime's channel:

- ``e`` followed by an event id — events up to that id were committed:
  wake this replica's pollers and streams if it has not read that far (sent
  by the sequencing pass itself, so it arrives after the commit);
- ``d`` — a live ``worker.output_delta`` of a turn running here, for the
  other replicas' live streams. A payload must stay under 8,000 bytes, so a
  long delta is sent in pieces that the receivers join before publishing it
  as one delta: the coalescing rate the owner kept is the rate every replica
  shows. One sending connection per replica keeps its deltas in order
  (PostgreSQL delivers one session's notifications in commit order).

A turn cancelled, stopped or deleted on another replica needs no signal of
its own: the ``e`` of that transaction makes the owner replay the end event,
and replaying it cancels the turn's task (decision 0135).

A listener that loses its connection reconnects by itself and then wakes
everything once (a wake-up may have been missed meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["MAX_PAYLOAD_BYTES", "PgSignals", "delta_pieces"]

log = logging.getLogger("runtime_registry.runtimes.embedded.postgres")

#: PostgreSQL refuses payloads of 8,000 bytes or more; the envelope (ids, keys) is kept well below the rest.
MAX_PAYLOAD_BYTES = 7900
#: The most text bytes (JSON-escaped) one delta piece carries.
_PIECE_BYTES = 7000


def delta_pieces(text: str, limit: int = _PIECE_BYTES) -> Iterator[str]:
    """``text`` cut into pieces whose JSON string form is at most ``limit`` bytes (never inside a character)."""
    piece: list[str] = []
    size = 0
    for char in text:
        char_size = len(json.dumps(char, ensure_ascii=False).encode()) - 2
        if size + char_size > limit and piece:
            yield "".join(piece)
            piece, size = [], 0
        piece.append(char)
        size += char_size
    if piece:
        yield "".join(piece)


class PgSignals:
    """One replica's listener and sender on its runtime's channel.

    :param connect: makes a new asyncpg connection (the store's DSN, never seen here).
    :param channel: the runtime's channel name.
    :param replica_id: this replica (its own deltas are not published twice).
    :param on_events: called when a transaction committed events, with the newest
        committed id when the message carries it (``None``: read to find out).
    :param on_delta: ``(worker_id, turn, text)``: a live delta of a turn on another replica.
    """

    def __init__(
        self,
        connect: Callable[[], Any],
        channel: str,
        replica_id: str,
        *,
        on_events: Callable[[int | None], None],
        on_delta: Callable[[str, int, str], None],
    ) -> None:
        self._connect = connect
        self.channel = channel
        self.replica_id = replica_id
        self._on_events = on_events
        self._on_delta = on_delta
        self._outbox: asyncio.Queue[str] = asyncio.Queue(maxsize=10_000)
        self._tasks: list[asyncio.Task[None]] = []
        self._partial: dict[tuple[str, str, int], list[str]] = {}
        self._closed = False
        #: Set while the listener is connected (tests wait for it).
        self.listening = asyncio.Event()

    def start(self) -> None:
        """Start listening and sending (in tasks of the running loop)."""
        self._tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._send())]

    async def close(self) -> None:
        """Stop both tasks and close their connections."""
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- sending ---------------------------------------------------------------------------

    def send_delta(self, worker_id: str, turn: int, text: str) -> None:
        """Relay a live delta of a turn running here to the other replicas (never suspends)."""
        pieces = list(delta_pieces(text))
        for index, piece in enumerate(pieces):
            more = index < len(pieces) - 1
            self._put(
                json.dumps(
                    {"k": "d", "r": self.replica_id, "w": worker_id, "t": turn, "x": piece, "m": more},
                    ensure_ascii=False,
                )
            )

    def _put(self, payload: str) -> None:
        try:
            self._outbox.put_nowait(payload)
        except asyncio.QueueFull:
            # Live-only: a replica that cannot keep up drops deltas rather than grow.
            log.warning("embedded runtime: PostgreSQL signal queue full; a live signal was dropped")

    async def _send(self) -> None:
        connection = None
        while not self._closed:
            payload = await self._outbox.get()
            while True:
                try:
                    if connection is None or connection.is_closed():
                        connection = await self._connect()
                    await connection.execute("SELECT pg_notify($1, $2)", self.channel, payload)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception:
                    connection = None
                    if self._closed:
                        return
                    await asyncio.sleep(0.5)
                    # A live delta is worth nothing late: drop it.
                    break
        if connection is not None:
            await connection.close()

    # -- listening -------------------------------------------------------------------------

    async def _listen(self) -> None:
        while not self._closed:
            connection = None
            try:
                connection = await self._connect()
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _c, lost=lost: lost.set())
                await connection.add_listener(self.channel, self._received)
                self.listening.set()
                # Anything committed while we were away.
                self._on_events(None)
                while not lost.is_set():
                    # asyncpg notices a dead socket only when it uses it.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), 2.0)
                    if not lost.is_set():
                        await connection.execute("SELECT 1")
            except asyncio.CancelledError:
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(connection.close(), 2)
                raise
            except Exception:
                pass
            self.listening.clear()
            if connection is not None:
                with contextlib.suppress(Exception):
                    connection.terminate()
            await asyncio.sleep(0.5)

    def _received(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload[:1] == "e":
            # ``e`` and the newest committed id (a sequencing pass's, decision 0230); from a
            # ``decide()`` batch, then its replica (decision 0236): that replica's own batch answers
            # with every event it numbered and replays them, so it does not read them again (a wake
            # that won the race with the answer read the feed from the database for nothing).
            newest, _, sender = payload[1:].partition(" ")
            if sender == self.replica_id:
                return
            self._on_events(int(newest) if newest.isdigit() else None)
            return
        try:
            message = json.loads(payload)
            kind = message["k"]
            if kind == "d" and message["r"] != self.replica_id:
                key = (str(message["r"]), str(message["w"]), int(message["t"]))
                pieces = self._partial.setdefault(key, [])
                pieces.append(str(message["x"]))
                if not message["m"]:
                    del self._partial[key]
                    self._on_delta(key[1], key[2], "".join(pieces))
        except (ValueError, KeyError, TypeError):
            log.warning("embedded runtime: an unreadable signal on the runtime's channel was ignored")
