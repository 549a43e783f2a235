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

from registry_core.errors import CapacityExceeded

__all__ = ["WORKER_RECORD_BYTES", "StoreBudget"]

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
            raise CapacityExceeded(
                f"the runtime's store is full: {what} would take {size:,} bytes and "
                f"{max(self.max_bytes - self.used, 0):,} of its {self.max_bytes:,} (max_store_bytes) are left; "
                "delete workers that are done to free room",
                worker_id=worker_id,
            )

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
        self.settle(worker_id)
        if size:
            self._reserved[worker_id] = size
            self.used += size

    def settle(self, worker_id: str) -> None:
        """Give back ``worker_id``'s reservation, if any (its reply was charged, or will not come)."""
        size = self._reserved.pop(worker_id, 0)
        self.used -= size

    def reserved(self, worker_id: str) -> int:
        """The bytes held for ``worker_id``'s reply now."""
        return self._reserved.get(worker_id, 0)
