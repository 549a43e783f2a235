"""A runtime's workers: never-reused opaque ids, lookup, and list cursors that survive deletes.

A building block of the plugin API, the embedded runtime's rules made public
(decision 0065):

- each worker gets a creation *serial*, increasing and never reused: by
  default the first is the wall clock in microseconds, so not even a restart
  issues a serial again; the worker id is a prefix, the serial in 13 hex
  digits and 8 random hex digits (opaque, unguessable, never derived from a
  label, never reused, so a deleted worker's id stays unknown for good);
- a list cursor names a serial ("after this worker") and this roster's tag,
  so it keeps its meaning when that worker, or any other, is deleted, and a
  cursor of another runtime or an earlier run is refused, never misread;
- a delete leaves a tombstone with a skip link past it (path-compressed), and
  the arrays are compacted when tombstones outnumber live workers: pages cost
  O(page) however many workers were deleted, and memory stays bounded.
"""

from __future__ import annotations

import bisect
import secrets
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

from registry_core.errors import InvalidCursor, UnknownWorker
from registry_core.identifiers import is_valid_identifier

__all__ = ["Roster"]

T = TypeVar("T")


class Roster(Generic[T]):
    """Workers (any objects) in creation order, by id.

    :param id_prefix: what every worker id starts with (id characters, e.g. ``"nt-"``).
    :param first_serial: the first worker's serial; ``None`` for the clock in
        microseconds, which keeps ids unique across restarts. A kind that
        stores its workers passes its stored next serial.
    :param cursor_tag: what ends every list cursor; ``None`` for a random one,
        which expires the cursors of an earlier run. A kind that stores its
        workers stores the tag too.
    """

    def __init__(
        self, *, id_prefix: str = "w-", first_serial: int | None = None, cursor_tag: str | None = None
    ) -> None:
        if not is_valid_identifier(f"{id_prefix}{0:013x}{0:08x}"):
            raise ValueError("id_prefix must be made of id characters (letters, digits, '-', '_', ':')")
        self.id_prefix = id_prefix
        self._first_serial = time.time_ns() // 1000 if first_serial is None else first_serial
        #: The serial the next added worker gets.
        self.next_serial = self._first_serial
        self.cursor_tag = secrets.token_hex(4) if cursor_tag is None else cursor_tag
        self._items: list[T | None] = []
        self._serials = array("q")
        self._skips: dict[int, int] = {}  # tombstone slot -> a later slot to look at (path-compressed)
        self._tombstones = 0
        self._by_id: dict[str, tuple[int, T]] = {}

    def __len__(self) -> int:
        """How many workers it holds (deleted ones not)."""
        return len(self._by_id)

    def __contains__(self, worker_id: object) -> bool:
        """Whether ``worker_id`` is a worker it holds."""
        return worker_id in self._by_id

    def __iter__(self) -> Iterator[T]:
        """The workers, in creation order."""
        return (item for item in self._items if item is not None)

    def add(self, make: Callable[[str], T]) -> T:
        """Create a worker: ``make(worker_id)`` builds it with a new id, which is never issued again."""
        serial = self.next_serial
        worker_id = f"{self.id_prefix}{serial:013x}{secrets.token_hex(4)}"
        item = make(worker_id)
        self.next_serial += 1
        self._items.append(item)
        self._serials.append(serial)
        self._by_id[worker_id] = (serial, item)
        return item

    def insert(self, worker_id: str, serial: int, worker: T) -> T:
        """Add a worker whose id and serial were issued elsewhere (another replica of a shared store).

        ``serial`` must be at least :attr:`next_serial` (workers arrive in
        serial order); :attr:`next_serial` moves past it.

        .. versionadded:: 0.3
        """
        if serial < self.next_serial or worker_id in self._by_id:
            raise ValueError("insert() takes workers in serial order, each once")
        self._items.append(worker)
        self._serials.append(serial)
        self._by_id[worker_id] = (serial, worker)
        self.next_serial = serial + 1
        return worker

    def restore(self, workers: Iterable[tuple[str, int, T]], *, next_serial: int) -> None:
        """Take back the workers a store kept: ``(worker_id, serial, worker)`` in serial order.

        Serials must increase and lie in ``first_serial .. next_serial - 1``;
        deleted workers are simply absent. Call it on a new roster only.

        .. versionadded:: 0.4
        """
        if self._items:
            raise ValueError("restore() is for a roster that holds no workers yet")
        restored = list(workers)
        serials = [serial for _, serial, _ in restored]
        if serials != sorted(set(serials)) or (
            serials and (serials[0] < self._first_serial or serials[-1] >= next_serial)
        ):
            raise ValueError("restored workers must be in serial order, within first_serial .. next_serial - 1")
        if next_serial < self._first_serial:
            raise ValueError("next_serial is below first_serial")
        self._items = [item for _, _, item in restored]
        self._serials = array("q", serials)
        self._by_id = {worker_id: (serial, item) for worker_id, serial, item in restored}
        self.next_serial = next_serial

    def find(self, worker_id: str) -> T | None:
        """The worker with ``worker_id``, or ``None``.

        .. versionadded:: 0.4
        """
        found = self._by_id.get(worker_id)
        return None if found is None else found[1]

    def cursor_after(self, worker_id: str) -> str:
        """The list cursor that continues after ``worker_id`` (a page cut short by another bound).

        .. versionadded:: 0.4
        """
        return f"{self._by_id[worker_id][0]}-{self.cursor_tag}"

    def get(self, worker_id: str) -> T:
        """The worker with ``worker_id``.

        :raises UnknownWorker: no such worker here (never created, or deleted).
        """
        try:
            return self._by_id[worker_id][1]
        except KeyError:
            raise UnknownWorker("no such worker in this runtime", worker_id=worker_id) from None

    def remove(self, worker_id: str) -> T:
        """Delete a worker for good (amortised O(log n)) and return it.

        :raises UnknownWorker: no such worker here.
        """
        found = self._by_id.pop(worker_id, None)
        if found is None:
            raise UnknownWorker("no such worker in this runtime", worker_id=worker_id)
        slot = bisect.bisect_left(self._serials, found[0])
        self._items[slot] = None
        self._skips[slot] = slot + 1
        self._tombstones += 1
        if self._tombstones * 2 > len(self._items):
            self._compact()
        return found[1]

    def page(
        self, *, cursor: str | None, limit: int, where: Callable[[T], bool] | None = None
    ) -> tuple[list[T], str | None]:
        """At most ``limit`` workers after ``cursor`` (``None``: from the first), and the next cursor.

        The next cursor is ``None`` at the end. With ``where``, only the
        workers it is true of (a list filter: it reads the workers after the
        cursor until the page is full); the cursor is the same either way, so
        it stays valid under another ``where`` (``where`` added in 0.4).

        :raises InvalidCursor: ``cursor`` is not one this roster issued (``400 malformed_request`` naming ``cursor``).
        """
        after = None if cursor is None else self._serial_of(cursor)
        slot = 0 if after is None else bisect.bisect_right(self._serials, after)
        items, end = self._items, len(self._items)
        chosen: list[T] = []
        chosen_slot = -1
        slot = self._live_from(slot)
        while slot < end and len(chosen) < limit:
            item: T = items[slot]  # type: ignore[assignment]  # _live_from skips tombstones
            if where is None or where(item):
                chosen.append(item)
                chosen_slot = slot
            slot = self._live_from(slot + 1)
        more = slot < end and len(chosen) == limit
        return chosen, (f"{self._serials[chosen_slot]}-{self.cursor_tag}" if more else None)

    def _serial_of(self, cursor: str) -> int:
        serial, dash, tag = cursor.partition("-")
        # 19 digits cover every int64 serial; no leading zero, so no two cursors alias.
        well_formed = dash and tag == self.cursor_tag and serial.isascii() and serial.isdigit()
        if well_formed and len(serial) <= 19 and serial[0] != "0":
            value = int(serial)
            if self._first_serial <= value < self.next_serial:
                return value
        raise InvalidCursor()

    def _live_from(self, slot: int) -> int:
        """The first slot at or after ``slot`` that holds a live worker (``len`` if none)."""
        skips = self._skips
        if slot not in skips:
            return slot
        target = slot
        while target in skips:
            target = skips[target]
        while slot != target:  # path compression: every link walked now points at the end
            following = skips[slot]
            skips[slot] = target
            slot = following
        return target

    def _compact(self) -> None:
        live = [(item, serial) for item, serial in zip(self._items, self._serials, strict=True) if item is not None]
        self._items = [item for item, _ in live]
        self._serials = array("q", (serial for _, serial in live))
        self._skips = {}
        self._tombstones = 0
