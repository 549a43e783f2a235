"""An event log for a runtime kind: strictly increasing ids, bounded retention, cursors, waiting.

A building block of the plugin API: the embedded runtime's log, made public so
that a kind does not re-implement the cursor rules (docs/plugins.md).

Ids have no gaps, so the retained events are always the ids
``first_id .. last_id`` and an event's position is arithmetic: poll cost does
not depend on how many events are retained. Storage is a list with a moving
head (compacted now and then, amortised O(1) per event) rather than a deque,
because a deque's random access walks its blocks.

A log's first id is its ``start_id``: by default the wall clock in
microseconds when the log is made (about 1.8e15, 16 digits, below 2**53 so
JavaScript clients keep exact integers). Ids therefore never repeat across
restarts of the process: a cursor from an earlier run is always below the new
run's ids, and is expired instead of being taken as a point in the new run
(decision 0055). Tests that reason about small ids pass ``start_id=1``. A kind
that stores its events passes ``on_append`` (each new event, to queue for its
store) and, on the next start, gives back what it kept with :meth:`EventLog.restore`,
so ids and cursors continue (the embedded runtime's SQLite store does).

Each worker has an index of its own event ids (also a list with a head). When
the log drops its oldest event, that event is by construction the oldest entry
of its worker's index, so the index is trimmed in O(1) and per-worker polls
stay exact and O(page): a bisect in the worker's ids, then arithmetic.

Cursor rules (``RuntimeProvider.read_events``): a cursor older than what is
retained (an earlier run's included), or newer than any id issued, is
:class:`CursorExpired` — never a silent skip. ``0``, which no log ever issues,
means "before this log's first event": it is expired only once that event was
dropped.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from registry_core.errors import CursorExpired, InvalidRequest
from registry_core.live import LiveSubscription
from registry_core.models import Event, EventPage
from registry_core.page_bytes import fit_to_bytes, json_size, text_size

__all__ = ["EventLog", "EventSlice", "clock_start_id"]

# Compact a list's dead head once it is this long and at least half the list:
# each compaction moves at most as many items as were dropped since the last.
_COMPACT_AFTER = 1024
# The same rule for each worker's index, with a small floor: there is one index
# per worker, so a floor of 1,024 would let every worker keep ~1,000 dead ids
# (~40 KiB) long after their events were dropped — memory growing with
# max_workers instead of event_retention. Still amortised O(1) per event.
_INDEX_COMPACT_AFTER = 16


#: An upper bound of an event's JSON besides its type, worker id and data:
#: the keys, the id, the timestamp and the punctuation.
EVENT_ENVELOPE_BYTES = 112


def event_size(type_: str, worker_id: str | None, data: Mapping[str, Any], data_size: int | None = None) -> int:
    """An upper bound of an event's JSON: its envelope, type, worker id and data (``data_size`` if measured)."""
    return (
        EVENT_ENVELOPE_BYTES
        + len(type_)
        + (0 if worker_id is None else text_size(worker_id))
        + (json_size(data) if data_size is None else data_size)
    )


class _IdIndex:
    """One worker's event ids, oldest first, with a head that moves as the log drops events."""

    __slots__ = ("head", "id_bytes", "ids")

    def __init__(self, worker_id: str) -> None:
        self.ids: list[int] = []
        self.head = 0
        #: The worker id's JSON size, measured once rather than with every event.
        self.id_bytes = text_size(worker_id)

    def drop_dead(self) -> None:
        """Compact: forget the ids before the head."""
        del self.ids[: self.head]
        self.head = 0


class EventSlice:
    """A poll's answer: the events, where to poll from next, and whether more matching events follow."""

    __slots__ = ("events", "has_more", "next_cursor")

    def __init__(self, events: list[Event], next_cursor: int, has_more: bool) -> None:
        #: The events, oldest first.
        self.events = events
        #: Where the next read starts (``cursor=next_cursor``).
        self.next_cursor = next_cursor
        #: Whether more matching events follow.
        self.has_more = has_more


def clock_start_id() -> int:
    """A new log's first id: the wall clock in microseconds.

    It grows from one run to the next as long as the clock does and a run
    averages fewer than one event per microsecond (an append alone costs more).
    """
    return time.time_ns() // 1000


class EventLog:
    """The newest ``retention`` events of one runtime, polled by cursor and awaited by streams.

    Call it from the event loop's thread only (it is not thread-safe, and needs
    no lock: no method suspends between reading and writing state).

    :param retention: how many events to keep (at least 1).
    :param start_id: the first event's id (at least 1); ``None`` for
        :func:`clock_start_id`, which makes ids unique across runs.
    :param on_append: called with every appended event (a durable store
        queues it); ``None`` for nothing.
    :param max_retained_bytes: drop the oldest events also while the retained
        ones take more than this many bytes as JSON (the newest is always
        kept); ``None`` for no such bound (decision 0081).
    :param watermark: readers see an event only once :meth:`commit` passed
        its id (a committed watermark, as Kafka consumers see only up to the
        high watermark): a kind that stores its events calls :meth:`commit`
        when they are durable, so no reader sees an event a crash can take
        back. Without it (the default) every event is visible when appended.
        (decision 0111; added in 0.4)
    """

    def __init__(
        self,
        retention: int,
        *,
        start_id: int | None = None,
        on_append: Callable[[Event], None] | None = None,
        max_retained_bytes: int | None = None,
        watermark: bool = False,
    ) -> None:
        if retention < 1:
            raise ValueError("retention must be at least 1")
        if start_id is None:
            start_id = clock_start_id()
        if isinstance(start_id, bool) or not isinstance(start_id, int) or start_id < 1:
            raise ValueError("start_id must be an integer of at least 1")
        self.retention = retention
        self.start_id = start_id
        self._events: list[Event | None] = []
        # Each event's JSON size (an upper bound), at the same index as the
        # event: pages are cut by bytes without rendering anything (decision 0080).
        self._sizes: list[int] = []
        #: The JSON bytes of the retained events.
        self.retained_bytes = 0
        #: The byte bound of the retained events (``None``: none).
        self.max_retained_bytes = max_retained_bytes
        self._head = 0
        self._last_id = start_id - 1
        # The newest id readers may see; equal to _last_id without a watermark.
        self._committed = start_id - 1
        self._watermark = watermark
        self._by_worker: dict[str, _IdIndex] = {}
        self._arrived: asyncio.Event | None = None
        self._closed = False
        self._live: set[LiveSubscription] = set()
        self._on_append = on_append

    # -- state -------------------------------------------------------------------

    @property
    def last_id(self) -> int:
        """The id of the newest event (``start_id - 1`` before the first)."""
        return self._last_id

    @property
    def committed_id(self) -> int:
        """The newest id readers see: :attr:`last_id`, or less while later events wait for :meth:`commit`.

        .. versionadded:: 0.4
        """
        return self._committed

    @property
    def first_id(self) -> int:
        """The id of the oldest retained event (``last_id + 1`` while none is retained)."""
        return self._last_id - (len(self._events) - self._head) + 1

    def __len__(self) -> int:
        """How many events are retained."""
        return len(self._events) - self._head

    # -- writing -----------------------------------------------------------------

    def append(
        self,
        type_: str,
        worker_id: str | None,
        data: Mapping[str, Any],
        *,
        data_size: int | None = None,
        created_at: datetime | None = None,
    ) -> Event:
        """Record an event with the next id, drop the oldest beyond retention, wake waiters.

        :param data_size: the JSON size of ``data`` if the caller measured it
            (the text it quotes); else it is measured here.
        :param created_at: when the event happened, if not now (a store that
            replays events another replica appended keeps their time).
            (.. versionadded:: 0.3)
        """
        event_id = self._last_id = self._last_id + 1
        event = Event(event_id, type_, worker_id, data, created_at or datetime.now(UTC))
        # event_size(), with the worker id's size kept in its index.
        size = EVENT_ENVELOPE_BYTES + len(type_) + (json_size(data) if data_size is None else data_size)
        if worker_id is not None:
            index = self._by_worker.get(worker_id)
            if index is None:
                index = self._by_worker[worker_id] = _IdIndex(worker_id)
            index.ids.append(event_id)
            size += index.id_bytes
        events = self._events
        events.append(event)
        self._sizes.append(size)
        self.retained_bytes += size
        if len(events) - self._head > self.retention:
            self._drop_oldest()
        if self._on_append is not None:
            self._on_append(event)
        max_bytes = self.max_retained_bytes
        while max_bytes is not None and self.retained_bytes > max_bytes and len(self._events) - self._head > 1:
            self._drop_oldest()
        if not self._watermark:
            self._committed = event_id
            if self._arrived is not None:
                self._wake()
        return event

    def commit(self, through_id: int) -> None:
        """Show readers every event up to ``through_id`` (a log made with ``watermark=True``); wake waiters.

        Ids at or below the watermark are ignored; ids above :attr:`last_id` are refused.

        .. versionadded:: 0.4
        """
        if through_id > self._last_id:
            raise ValueError("commit() beyond the newest event")
        if through_id > self._committed:
            self._committed = through_id
            self._wake()

    def _wake(self) -> None:
        arrived = self._arrived
        if arrived is not None:
            # Waiters hold this asyncio.Event; the next wait makes a new one.
            # Nobody waiting means no Event is made at all.
            self._arrived = None
            arrived.set()

    def _drop_oldest(self) -> None:
        # Once the log is full every append drops one: locals, and the worker index's
        # head moved here rather than through a call (decision 0256).
        head = self._head
        events = self._events
        dropped = events[head]
        events[head] = None
        self.retained_bytes -= self._sizes[head]
        self._head = head = head + 1
        if dropped is not None:
            worker_id = dropped.worker_id
            if worker_id is not None:
                index = self._by_worker.get(worker_id)
                if index is not None:  # None: the worker was forgotten (deleted)
                    index.head += 1
                    if index.head >= _INDEX_COMPACT_AFTER and index.head * 2 >= len(index.ids):
                        index.drop_dead()
        if head >= _COMPACT_AFTER and head * 2 >= len(events):
            del events[:head]
            del self._sizes[:head]
            self._head = 0

    def restore(self, events: Iterable[Event], *, last_id: int, worker_ids: Iterable[str]) -> None:
        """Take back what a durable store kept: its retained events (gapless, oldest first) and the newest id.

        Per-worker indexes are rebuilt for ``worker_ids`` (deleted workers get
        none, as :meth:`forget_worker` leaves them). Call it on a new log only.
        """
        if self._last_id != self.start_id - 1:
            raise ValueError("restore() is for a log that has no events yet")
        kept = list(events)[-self.retention :]
        if kept and (kept[-1].id != last_id or kept[-1].id - kept[0].id + 1 != len(kept)):
            raise ValueError("restored events must be gapless and end at last_id")
        if last_id < self.start_id - 1:
            raise ValueError("last_id is below start_id - 1")
        sizes = [event_size(event.type, event.worker_id, event.data, None) for event in kept]
        total = sum(sizes)
        # The byte bound holds from the start, as it does while appending: a
        # store may keep more events than fit (it bounds them by count only).
        first = 0
        while self.max_retained_bytes is not None and total > self.max_retained_bytes and len(kept) - first > 1:
            total -= sizes[first]
            first += 1
        kept, sizes = kept[first:], sizes[first:]
        self._events = kept  # type: ignore[assignment]
        self._sizes = sizes
        self.retained_bytes = total
        self._head = 0
        self._last_id = self._committed = last_id  # what a store kept is committed
        known = set(worker_ids)
        for event in kept:
            worker_id = event.worker_id
            if worker_id is not None and worker_id in known:
                index = self._by_worker.get(worker_id)
                if index is None:
                    index = self._by_worker[worker_id] = _IdIndex(worker_id)
                index.ids.append(event.id)

    def forget_worker(self, worker_id: str) -> None:
        """Drop ``worker_id``'s index: the worker was deleted, so nobody reads its events alone again.

        Its events stay in the log (and in runtime-wide reads) until retention
        drops them. Without this, a runtime that creates and deletes workers
        for ever would keep one index per worker it ever had (decision 0065).
        """
        self._by_worker.pop(worker_id, None)

    # -- live-only events ------------------------------------------------------

    def subscribe(self) -> LiveSubscription:
        """A new subscription to live-only events (:meth:`publish`); close it when the stream ends."""
        subscription = LiveSubscription(self._live.discard)
        self._live.add(subscription)
        return subscription

    def publish(self, type_: str, worker_id: str | None, data: Mapping[str, Any]) -> Event | None:
        """Send a live-only event to the current subscribers; it is not stored (decision 0091).

        The event carries the id of the newest stored event (the one it
        follows), so a stream sends it in order: after that event, which with
        a watermark means once that event is committed (decision 0111).
        Returns ``None`` (and builds nothing) when nobody is subscribed.
        """
        if not self._live:
            return None
        event = Event(self._last_id, type_, worker_id, data, datetime.now(UTC))
        for subscription in self._live:
            subscription.push(event)
        return event

    # -- reading -----------------------------------------------------------------

    def read(
        self, *, cursor: int | None, limit: int, worker_id: str | None = None, max_bytes: int | None = None
    ) -> EventSlice:
        """Events after ``cursor`` (``None``: from the oldest retained), at most ``limit``, oldest first.

        With ``max_bytes``, also at most as many as fit in that many bytes of
        JSON (at least one); a page cut short by bytes says ``has_more`` and
        its ``next_cursor`` is its last event, as with ``limit`` (decision 0080).

        With ``worker_id``, only that worker's events; ``next_cursor`` then moves
        past other workers' events too when this worker has no more, so a
        client polling one worker never re-reads what it already passed.

        Only events up to :attr:`committed_id` are read; a cursor between it
        and :attr:`last_id` reads nothing yet.

        :raises CursorExpired: events after ``cursor`` were dropped (or it
            comes from an earlier run: below ``start_id - 1``), or ``cursor`` is
            newer than any event this log issued.
        """
        first_id = self.first_id
        visible = self._committed
        if cursor is None:
            after = first_id - 1
        elif cursor == 0:
            after = self.start_id - 1
        else:
            after = cursor
        if after < first_id - 1:
            raise CursorExpired(
                "events after this cursor are no longer retained (or it comes from before a restart); "
                "read again without a cursor to start from the oldest retained event"
            )
        if after > self._last_id:
            raise CursorExpired(
                "this cursor is newer than any event of this runtime (it may come from an earlier run); "
                "read again without a cursor"
            )
        if worker_id is None:
            start = self._head + (after - first_id + 1)
            end = self._head + (visible - first_id + 1)  # past the newest visible event
            events = self._events[start : min(start + limit, end)]
            has_more = start + limit < end
            if max_bytes is not None and events:
                kept = fit_to_bytes(self._sizes[start : start + len(events)], max_bytes)
                if kept < len(events):
                    events, has_more = events[:kept], True
            next_cursor = events[-1].id if events else after  # type: ignore[union-attr]
            return EventSlice(events, next_cursor, has_more)  # type: ignore[arg-type]
        index = self._by_worker.get(worker_id)
        if index is None:
            return EventSlice([], max(visible, after), False)
        ids = index.ids
        position = bisect.bisect_right(ids, after, index.head)
        stop = len(ids) if visible == self._last_id else bisect.bisect_right(ids, visible, position)
        chosen = ids[position : min(position + limit, stop)]
        events, offset = self._events, self._head - first_id  # an id's place in the list is offset + id
        page = [events[offset + event_id] for event_id in chosen]
        has_more = position + limit < stop
        if max_bytes is not None and page:
            sizes = self._sizes
            kept = fit_to_bytes((sizes[offset + event_id] for event_id in chosen), max_bytes)
            if kept < len(page):
                page, chosen, has_more = page[:kept], chosen[:kept], True
        next_cursor = chosen[-1] if has_more else max(visible, after)
        return EventSlice(page, next_cursor, has_more)  # type: ignore[arg-type]

    def page(
        self,
        runtime_id: str,
        *,
        cursor: int | None,
        limit: int,
        worker_id: str | None = None,
        max_bytes: int | None = None,
    ) -> EventPage:
        """:meth:`read` as the :class:`~registry_core.models.EventPage` that ``RuntimeProvider.read_events`` returns.

        :raises InvalidRequest: ``cursor`` is not ``None`` or an integer of at least 0.
        :raises CursorExpired: as :meth:`read`.
        """
        if cursor is not None and (isinstance(cursor, bool) or not isinstance(cursor, int) or cursor < 0):
            raise InvalidRequest(
                "cursor must be a non-negative integer",
                details=({"path": "cursor", "message": "must be a non-negative integer"},),
            )
        found = self.read(cursor=cursor, limit=limit, worker_id=worker_id, max_bytes=max_bytes)
        return EventPage(runtime_id, tuple(found.events), found.next_cursor, found.has_more)

    # -- waiting -----------------------------------------------------------------

    async def wait(self, *, cursor: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for an event after ``cursor``.

        Returns whether there is one; returns ``False`` at once after :meth:`close`.
        """
        if cursor == 0:
            cursor = self.start_id - 1
        if self._committed > cursor:
            return True
        if self._closed or timeout <= 0:
            return False
        arrived = self._arrived
        if arrived is None:
            arrived = self._arrived = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await arrived.wait()
        return self._committed > cursor

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Wake every waiter for good: streams must not hold up shutdown."""
        self._closed = True
        for subscription in list(self._live):
            subscription.close()
        arrived = self._arrived
        if arrived is None:
            arrived = self._arrived = asyncio.Event()
        arrived.set()
