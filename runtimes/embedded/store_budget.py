"""The runtime's byte budget for stored content (``max_store_bytes``): what is charged, what is refused.

Counts let 1,000 workers × 10,000 entries × 256 KiB through: far more than a
small machine has (issue 12, point 2). The budget counts what the runtime
stores on behalf of clients, measured as the JSON it becomes (the sizes that
also bound pages): each transcript entry, and each worker's own texts (label,
intent). A turn's reply is reserved when its input is accepted, so an
accepted input never finds the store full when it replies; a turn that ends
without replying (cancelled, stopped, failed) gives its reservation back, and
deleting a worker gives back everything it held.

It is pure accounting, apart from where the content lives: whichever store
holds the entries charges and releases through it.
"""

from __future__ import annotations

from collections.abc import Callable

from registry_core.errors import CapacityExceeded

__all__ = ["WORKER_RECORD_BYTES", "MeasuredBudget", "StoreBudget", "store_full"]

#: What a worker is charged besides its texts: its record, ids and timestamps, as JSON.
WORKER_RECORD_BYTES = 512


class StoreBudget:
    """Bytes charged against ``max_bytes`` per worker, with per-worker reservations for replies.

    It keeps what each worker was charged, so deleting a worker gives back
    exactly that, whatever store holds its entries.

    :param max_bytes: the budget (``max_store_bytes``).
    """

    __slots__ = ("_charged", "_reserved", "max_bytes", "used")

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        self.max_bytes = max_bytes
        #: Bytes charged or reserved now.
        self.used = 0
        self._charged: dict[str, int] = {}
        self._reserved: dict[str, int] = {}

    def require(self, size: int, *, worker_id: str | None = None, what: str) -> None:
        """Refuse with ``CapacityExceeded`` unless ``size`` more bytes fit; charges nothing.

        :param what: what would not fit, for the message ("the input and its reply").
        """
        if self.used + size > self.max_bytes:
            raise store_full(what, size, self.max_bytes - self.used, self.max_bytes, worker_id)

    def charge(self, worker_id: str, size: int) -> None:
        """Count ``size`` bytes as stored for ``worker_id``."""
        self._charged[worker_id] = self._charged.get(worker_id, 0) + size
        self.used += size

    def charged(self, worker_id: str) -> int:
        """The bytes stored for ``worker_id`` (reservations apart)."""
        return self._charged.get(worker_id, 0)

    def release_worker(self, worker_id: str) -> None:
        """Give back everything ``worker_id`` holds: it was deleted."""
        self.settle(worker_id)
        self.used -= self._charged.pop(worker_id, 0)

    def reserve(self, worker_id: str, size: int) -> None:
        """Hold ``size`` bytes for ``worker_id``'s coming reply (one reservation per worker at a time)."""
        reserved = self._reserved
        self.used -= reserved.pop(worker_id, 0)  # settle()'s work: a reservation left over is given back
        if size:
            reserved[worker_id] = size
            self.used += size

    def settle(self, worker_id: str) -> None:
        """Give back ``worker_id``'s reservation, if any (its reply was charged, or will not come)."""
        size = self._reserved.pop(worker_id, 0)
        self.used -= size

    def reserved(self, worker_id: str) -> int:
        """The bytes held for ``worker_id``'s reply now."""
        return self._reserved.get(worker_id, 0)


def store_full(what: str, size: int, left: int, max_bytes: int, worker_id: str | None) -> CapacityExceeded:
    """The one ``capacity_exceeded`` every store answers when ``max_store_bytes`` has no room (same words everywhere)."""
    return CapacityExceeded(
        f"the runtime's store is full: {what} would take {size:,} bytes and "
        f"{max(left, 0):,} of its {max_bytes:,} (max_store_bytes) are left; "
        "delete workers that are done to free room",
        worker_id=worker_id,
    )


class MeasuredBudget:
    """``max_store_bytes`` for a store whose bytes are *measured*, not counted (the SQLite file; issue 24).

    What the store holds is ``measured()`` — the store's own figure from its
    file (pages in use after the last commit, plus what is queued and not yet
    committed) — plus the replies reserved for turns in flight. Nothing is
    added up over time, so nothing can drift: each commit measures the file
    again. Admission is as :class:`StoreBudget`'s: :meth:`require` refuses
    before anything changes, a turn's reply is reserved when its input is
    accepted and given back when the turn ends.

    :param max_bytes: the bound (``max_store_bytes``).
    :param measured: the store's bytes now, answered from memory (called on the event loop).
    """

    __slots__ = ("_measured", "_reserved", "max_bytes", "reserved_total")

    def __init__(self, max_bytes: int, measured: Callable[[], int]) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        self.max_bytes = max_bytes
        self._measured = measured
        self._reserved: dict[str, int] = {}
        #: Bytes held for replies now.
        self.reserved_total = 0

    @property
    def used(self) -> int:
        """Measured bytes and reservations now."""
        return self._measured() + self.reserved_total

    def require(self, size: int, *, worker_id: str | None = None, what: str) -> None:
        """Refuse with ``CapacityExceeded`` unless ``size`` more bytes fit; holds nothing."""
        used = self.used
        if used + size > self.max_bytes:
            raise store_full(what, size, self.max_bytes - used, self.max_bytes, worker_id)

    def reserve(self, worker_id: str, size: int) -> None:
        """Hold ``size`` bytes for ``worker_id``'s coming reply (one reservation per worker at a time)."""
        self.settle(worker_id)
        if size:
            self._reserved[worker_id] = size
            self.reserved_total += size

    def settle(self, worker_id: str) -> None:
        """Give back ``worker_id``'s reservation, if any."""
        self.reserved_total -= self._reserved.pop(worker_id, 0)
