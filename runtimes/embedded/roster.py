"""The runtime's workers in creation order: pages in O(page) and cursors that survive deletes.

Each worker has a creation *serial*, unique and increasing, never reused. A
list cursor names a serial ("after this worker"), so it means the same thing
whether or not that worker — or any other — was deleted since (keyset paging,
decision 0065).

The roster is two parallel arrays, the records and their serials (ascending,
so a cursor's position is a binary search). A delete leaves a *tombstone* in
place — O(1), where removing from the middle of a list would be O(n) — and
records a skip link past it; the links are followed with path compression, so
a page walks its live workers only, however many tombstones lie between them
(amortised). When tombstones outnumber the live workers, the arrays are
compacted: O(n), at most once per n/2 deletes, which bounds the memory
tombstones hold to the live workers' own.
"""

from __future__ import annotations

import bisect
from array import array

from runtime_registry.runtimes.embedded.workers import WorkerRecord

__all__ = ["Roster"]


class Roster:
    """Workers in creation order, each with a serial; append, remove and page by serial.

    :param first_serial: the first worker's serial (later ones count up from it).
    """

    __slots__ = ("_first_serial", "_records", "_serials", "_skips", "_tombstones", "next_serial")

    def __init__(self, first_serial: int) -> None:
        self._records: list[WorkerRecord | None] = []
        self._serials = array("q")
        # Tombstone slot -> a later slot to look at next (path-compressed).
        self._skips: dict[int, int] = {}
        self._tombstones = 0
        self._first_serial = first_serial
        #: The serial the next appended worker must carry.
        self.next_serial = first_serial

    @classmethod
    def restored(cls, first_serial: int, next_serial: int, workers: list[WorkerRecord]) -> Roster:
        """A roster taken back from a store: ``workers`` (in serial order, gaps where deleted) and the next serial."""
        roster = cls(first_serial)
        serials = [worker.serial for worker in workers]
        if serials != sorted(serials) or (serials and (serials[0] < first_serial or serials[-1] >= next_serial)):
            raise ValueError("restored workers must be in serial order, within first_serial .. next_serial - 1")
        roster._records = list(workers)
        roster._serials = array("q", serials)
        roster.next_serial = next_serial
        return roster

    def __len__(self) -> int:
        """How many live workers the roster holds."""
        return len(self._records) - self._tombstones

    def issued(self, serial: int) -> bool:
        """Whether ``serial`` belongs to a worker appended to this roster (deleted ones included)."""
        return self._first_serial <= serial < self.next_serial

    def append(self, worker: WorkerRecord) -> None:
        """Add the newest worker; its serial must be :attr:`next_serial`."""
        if worker.serial != self.next_serial:
            raise ValueError(f"worker serial {worker.serial} is not the next serial {self.next_serial}")
        self._records.append(worker)
        self._serials.append(worker.serial)
        self.next_serial += 1

    def remove(self, worker: WorkerRecord) -> None:
        """Drop a worker of the roster (O(log n) amortised)."""
        slot = bisect.bisect_left(self._serials, worker.serial)
        if slot == len(self._records) or self._records[slot] is not worker:
            raise ValueError(f"worker {worker.worker_id} is not in the roster")
        self._records[slot] = None
        self._skips[slot] = slot + 1
        self._tombstones += 1
        if self._tombstones * 2 > len(self._records):
            self._compact()

    def page(self, *, after: int | None, limit: int) -> tuple[list[WorkerRecord], bool]:
        """At most ``limit`` live workers with a serial above ``after`` (``None``: from the first),
        in creation order, and whether more follow."""
        slot = 0 if after is None else bisect.bisect_right(self._serials, after)
        records = self._records
        end = len(records)
        workers: list[WorkerRecord] = []
        slot = self._live_from(slot)
        while slot < end and len(workers) < limit:
            workers.append(records[slot])  # type: ignore[arg-type]  # _live_from skips tombstones
            slot = self._live_from(slot + 1)
        return workers, slot < end

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
        live = [record for record in self._records if record is not None]
        self._records = live  # type: ignore[assignment]
        self._serials = array("q", (record.serial for record in live))
        self._skips = {}
        self._tombstones = 0
