"""One runtime's live-only events, rendered once and shared by every stream (decision 0170).

Before this, each stream held its own :class:`~registry_core.live.LiveSubscription`:
the runtime pushed every ``worker.output_delta`` into N queues, woke N waits,
and each stream looked the frame up in a cache and joined its own batch. With
50 streams and 100 workers streaming, that per-stream work was most of the
server's time (docs/performance.md, "Fan-out").

Now a :class:`LiveFanout` per runtime holds the runtime's only subscription.
One task drains it: it waits for an event, lets the others of that moment
join it (``batch_seconds``), renders each event to its SSE frame once, appends
the frames to a shared ring and wakes every stream with one future. Each
stream reads the ring through its :class:`LiveReader` (a position in the
ring), takes the frames it may send now (those that follow a stored event it
has sent) and writes them as one chunk; streams woken together at the same
position share one joined chunk.

What a stream sees is unchanged: live events in order, each after the stored
event it follows, without an ``id:`` line; a stream that falls more than
``backlog`` frames behind loses the oldest (previews of a reply whose full
text comes as a stored event), as a subscription's queue did.

The fan-out lives as long as it has readers: the last one to close cancels
the task and closes the subscription, so a runtime nobody streams builds no
live events (``publish`` returns at once without subscribers).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable

from registry_core.errors import RuntimeUnavailable
from registry_core.live import LiveSubscription
from registry_core.models import Event
from runtime_registry.server.sse_frames import render_frame

__all__ = ["DEFAULT_BATCH_SECONDS", "DEFAULT_RING_SIZE", "LiveFanout", "LiveReader", "LiveFanouts"]

#: How long the fan-out waits after a live event for others before it renders and wakes the streams.
DEFAULT_BATCH_SECONDS = 0.01
#: Readers per DEFAULT_BATCH_SECONDS of wait: with more streams the wait grows (one
#: socket send per stream per batch is most of the cost), up to MAX_BATCH_SECONDS.
#: 40, not 20: at 50 streams the wait was most of a delta's delivery time while the
#: server thread had most of a core to spare (decision 0242).
READERS_PER_BATCH_STEP = 40
#: The longest batch wait, whatever the number of streams (it adds to every delta's latency).
MAX_BATCH_SECONDS = 0.025
#: Rendered live frames kept per runtime for streams that are behind (about 300 B each).
DEFAULT_RING_SIZE = 4096
_ALL = 2**63
#: A frame slot for a live event that could not be rendered: its readers fail as the runtime's fault.
_MALFORMED = b""


class LiveFanout:
    """The live events of one runtime, rendered once, for any number of :class:`LiveReader`.

    :param subscription: the runtime's live subscription; the fan-out closes it.
    :param on_empty: called when the last reader closes (the owner forgets the fan-out).
    """

    def __init__(
        self,
        subscription: LiveSubscription,
        runtime_id: str,
        *,
        on_empty: Callable[[LiveFanout], None] = lambda _fanout: None,
        batch_seconds: float = DEFAULT_BATCH_SECONDS,
        ring_size: int = DEFAULT_RING_SIZE,
    ) -> None:
        self.runtime_id = runtime_id
        self._source = subscription
        self._on_empty = on_empty
        self._batch_seconds = batch_seconds
        # (id of the stored event it follows, frame); _base is the absolute
        # position of _ring[0], _end the position after the newest.
        self._ring: deque[tuple[int, bytes]] = deque(maxlen=ring_size)
        self._base = 0
        self._end = 0
        self._readers = 0
        self._changed: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        # The last chunk joined, so streams woken together join it once.
        self._joined: tuple[int, int, bytes] = (0, 0, b"")

    @property
    def usable(self) -> bool:
        """Whether the runtime still feeds this fan-out (its subscription is open)."""
        return not self._source.closed

    def open(self) -> LiveReader:
        """A reader that sees the live events published from now on."""
        self._readers += 1
        if self._task is None:
            self._task = asyncio.ensure_future(self._drain())
        return LiveReader(self, self._end)

    def _release(self) -> None:
        self._readers -= 1
        if self._readers == 0:
            if self._task is not None:
                self._task.cancel()
                self._task = None
            self._source.close()
            self._wake()
            self._on_empty(self)

    def batch_wait(self) -> float:
        """The wait for a batch now: ``batch_seconds``, longer with many readers (at most ``MAX_BATCH_SECONDS``)."""
        steps = max(1.0, self._readers / READERS_PER_BATCH_STEP)
        return min(self._batch_seconds * steps, max(self._batch_seconds, MAX_BATCH_SECONDS))

    def changed(self) -> asyncio.Future[None]:
        """A future that completes when frames are added (one future shared by every reader)."""
        if self._changed is None or self._changed.done():
            self._changed = asyncio.get_running_loop().create_future()
        return self._changed

    def _wake(self) -> None:
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)

    async def _drain(self) -> None:
        source = self._source
        while not source.closed:
            await source.wait()
            if self._batch_seconds:
                # Let the other events of this moment join: the streams then
                # wake about 1/batch_seconds times a second however many
                # workers stream.
                await asyncio.sleep(self.batch_wait())
            self.add(source.take(up_to=_ALL))

    def add(self, events: list[Event]) -> None:
        """Render ``events`` once and wake every reader."""
        if not events:
            return
        ring = self._ring
        for event in events:
            try:
                frame = render_frame(event, self.runtime_id, stored=False)
            except RuntimeUnavailable:
                frame = _MALFORMED
            if len(ring) == ring.maxlen:
                self._base += 1
            ring.append((event.id, frame))
            self._end += 1
        self._wake()

    def pull(self) -> None:
        """Render what the runtime published and the task has not taken yet.

        A stream calls this (through :meth:`LiveReader.pending`) before it
        sends stored events: a live event published before a stored one must
        go out before it, even while the task still waits out its batch.
        """
        if self._source.pending():
            self.add(self._source.take(up_to=_ALL))

    def _take(self, reader: LiveReader, up_to: int) -> bytes:
        position = reader.position
        if position < self._base:
            reader.dropped += self._base - position
            position = self._base
        ring = self._ring
        stop = position
        offset = position - self._base
        end = self._end
        while stop < end and ring[offset][0] <= up_to:
            stop += 1
            offset += 1
        reader.position = stop
        if stop == position:
            return b""
        joined = self._joined
        if joined[0] == position and joined[1] == stop:
            return joined[2]
        frames = [ring[index][1] for index in range(position - self._base, stop - self._base)]
        if _MALFORMED in frames:
            raise RuntimeUnavailable("the runtime returned malformed data", runtime_id=self.runtime_id)
        chunk = b"".join(frames)
        self._joined = (position, stop, chunk)
        return chunk


class LiveReader:
    """One stream's place in its runtime's :class:`LiveFanout`."""

    __slots__ = ("_closed", "_fanout", "dropped", "position")

    def __init__(self, fanout: LiveFanout, position: int) -> None:
        self._fanout = fanout
        self.position = position
        #: How many frames this reader lost by falling more than the ring behind.
        self.dropped = 0
        self._closed = False

    def pending(self) -> bool:
        """Whether there are live frames this reader has not taken (the runtime's newest included)."""
        fanout = self._fanout
        fanout.pull()
        return self.position < fanout._end

    def take(self, *, up_to: int) -> bytes:
        """The frames of the live events that follow stored events up to ``up_to``, joined ("" for none).

        :raises RuntimeUnavailable: one of them could not be rendered.
        """
        return self._fanout._take(self, up_to)

    def changed(self) -> asyncio.Future[None]:
        """Completes when frames are added (shared: never cancel it)."""
        return self._fanout.changed()

    def close(self) -> None:
        """Leave the fan-out; idempotent."""
        if not self._closed:
            self._closed = True
            self._fanout._release()


class LiveFanouts:
    """The fan-outs of one server, one per runtime that has a live stream open.

    :param subscribe: the runtime's live subscription for ``runtime_id`` (``None``: it has no live events).
    """

    def __init__(self, subscribe: Callable[[str], LiveSubscription | None], **options: float) -> None:
        self._subscribe = subscribe
        self._options = options
        self._by_runtime: dict[str, LiveFanout] = {}

    def open(self, runtime_id: str) -> LiveReader | None:
        """A reader of ``runtime_id``'s live events from now on, or ``None`` if it has none."""
        fanout = self._by_runtime.get(runtime_id)
        if fanout is None or not fanout.usable:
            subscription = self._subscribe(runtime_id)
            if subscription is None:
                return None
            fanout = LiveFanout(subscription, runtime_id, on_empty=self._forget, **self._options)  # type: ignore[arg-type]
            self._by_runtime[runtime_id] = fanout
        return fanout.open()

    def _forget(self, fanout: LiveFanout) -> None:
        with contextlib.suppress(KeyError):
            if self._by_runtime[fanout.runtime_id] is fanout:
                del self._by_runtime[fanout.runtime_id]
