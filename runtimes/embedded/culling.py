"""Culling: stop workers idle too long, delete workers stopped too long (issue 20; decision 0220).

Two settings of the embedded runtime, both off by default:

- ``idle_stop_seconds``: a worker *idle* that long is stopped, with a
  ``worker.stopped`` event whose data is ``{"reason": "idle"}``. Idle is
  measured from the moment the worker last became idle: its creation, or the
  end of its last turn (completed, failed, cancelled or interrupted). Input
  starts a turn at once, so "the last input or the end of its turn, whichever
  is later". A busy worker is never stopped as idle, however long its turn.
- ``stopped_delete_seconds``: a worker *stopped* that long (by a client, or
  as idle) is deleted, with ``worker.deleted`` and ``{"reason": "expired"}``;
  its ``max_workers`` slot is free again.

The times are kept with the worker (``WorkerRecord.status_since``; the
SQLite file's ``workers.status_since_us``; PostgreSQL's
``workers.status_since``), so deadlines survive a restart: a worker idle for
most of its time before a restart is stopped at its original deadline.

**Cost.** A sweep costs O(expired), not O(workers). Every worker in a status
gets the same allowance, so deadlines are in the order workers entered their
status: the local stores keep one insertion-ordered index per status
(:class:`ExpiryIndex`, an ``OrderedDict``: O(1) to move a worker to its end,
O(1) to look at its front) and a sweep reads from the front until the first
deadline still ahead. PostgreSQL reads a partial index on
``(status_since) WHERE status = ...`` the same way.

**Races.** Each store acts with the same check the busy rule uses: the local
stores check and change in one step of the event loop (nothing runs in
between); PostgreSQL acts with a conditional update (``WHERE status =
'idle' AND status_since <= ...``, rows another replica holds are skipped), so
exactly one replica stops or deletes a worker, and a worker that took input
between a sweep's look and its act is not stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator

import attrs

from registry_core.errors import RuntimeUnavailable

__all__ = [
    "EXPIRED",
    "IDLE_REASON",
    "SWEEP_LIMIT",
    "CullPolicy",
    "CullResult",
    "Culler",
    "ExpiryIndex",
    "sweep_interval",
]

log = logging.getLogger("runtime_registry.runtimes.embedded.culling")

#: The ``reason`` of a ``worker.stopped`` event of a worker stopped for being idle.
IDLE_REASON = "idle"
#: The ``reason`` of a ``worker.deleted`` event of a worker deleted after ``stopped_delete_seconds``.
EXPIRED = "expired"
#: The most workers one sweep stops (and deletes): a larger backlog takes the next sweeps,
#: so a sweep never holds the event loop (or a database transaction) for long.
SWEEP_LIMIT = 500
#: The shortest and longest time between sweeps.
_MIN_INTERVAL = 0.25
_MAX_INTERVAL = 30.0


@attrs.frozen
class CullPolicy:
    """What a sweep removes: workers idle ``idle_seconds`` or stopped ``stopped_seconds`` (``None``: never)."""

    idle_seconds: float | None = None
    stopped_seconds: float | None = None

    @property
    def enabled(self) -> bool:
        """Whether there is anything to cull at all."""
        return self.idle_seconds is not None or self.stopped_seconds is not None


@attrs.frozen
class CullResult:
    """What one sweep did: the workers it stopped as idle and deleted as expired (ids)."""

    stopped: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()

    @property
    def full(self) -> bool:
        """Whether the sweep stopped at :data:`SWEEP_LIMIT` (more may be due now)."""
        return len(self.stopped) >= SWEEP_LIMIT or len(self.deleted) >= SWEEP_LIMIT


def sweep_interval(policy: CullPolicy) -> float:
    """How often to sweep: a tenth of the shorter allowance, within 0.25–30 s.

    A worker is culled at most this long after its deadline (docs/configuration.md).
    """
    allowances = [s for s in (policy.idle_seconds, policy.stopped_seconds) if s is not None]
    if not allowances:
        return _MAX_INTERVAL
    return min(_MAX_INTERVAL, max(_MIN_INTERVAL, min(allowances) / 10))


class ExpiryIndex:
    """Workers in the order they entered one status, with when they did; oldest first.

    Entering moves a worker to the end (O(1)); leaving removes it (O(1));
    :meth:`due` reads from the front while the entries are at or before a
    cutoff, so it costs O(due) however many workers are not due. The order
    is the order of the times as long as they are entered in time order (the
    stores stamp them from one clock as they enter, and sort them once when
    they restore a file); a clock set back only makes a worker wait behind
    the ones entered before it.
    """

    __slots__ = ("_since",)

    def __init__(self) -> None:
        self._since: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._since)

    def __contains__(self, worker_id: object) -> bool:
        return worker_id in self._since

    def enter(self, worker_id: str, since: float) -> None:
        """``worker_id`` entered the status at ``since`` (epoch seconds): it goes to the end."""
        since_of = self._since
        since_of.pop(worker_id, None)
        since_of[worker_id] = since

    def leave(self, worker_id: str) -> None:
        """``worker_id`` left the status (or was deleted); nothing if it was not in it."""
        self._since.pop(worker_id, None)

    def due(self, cutoff: float, limit: int) -> Iterator[str]:
        """Workers that entered at or before ``cutoff``, oldest first, at most ``limit``.

        Lazy, and reads nothing past the first entry after ``cutoff``. The
        caller may make the yielded worker :meth:`leave` as it goes.
        """
        since_of = self._since
        for _ in range(limit):
            if not since_of:
                return
            worker_id, since = next(iter(since_of.items()))
            if since > cutoff:
                return
            # Taken off the front first: the caller acts on it (or finds it gone).
            del since_of[worker_id]
            yield worker_id


class Culler:
    """The runtime's sweeping task: calls ``sweep`` every :func:`sweep_interval` while it runs.

    :param sweep: one sweep (the store's ``cull``, then its ``settle``).
    :param policy: the allowances.
    :param name: the runtime's name, for log lines.
    """

    def __init__(self, sweep: Callable[[], Awaitable[CullResult]], policy: CullPolicy, *, name: str) -> None:
        self._sweep = sweep
        self.policy = policy
        self.interval = sweep_interval(policy)
        self._name = name
        self._task: asyncio.Task[None] | None = None
        #: Workers stopped as idle and deleted as expired by this process so far.
        self.stopped = 0
        self.deleted = 0

    def start(self) -> None:
        """Start sweeping (inside the running loop); nothing if already running."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="embedded-culling")

    async def stop(self) -> None:
        """Stop sweeping and wait for a sweep in progress to be cancelled."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def sweep_once(self) -> CullResult:
        """One sweep now (what the task does each interval); counts what it did."""
        result = await self._sweep()
        self.stopped += len(result.stopped)
        self.deleted += len(result.deleted)
        if result.stopped or result.deleted:
            log.info(
                "embedded runtime %s: culled %d idle worker(s) (stopped) and %d stopped worker(s) (deleted)",
                self._name,
                len(result.stopped),
                len(result.deleted),
            )
        return result

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                # A backlog larger than one sweep is taken in a few sweeps in a row.
                while (await self.sweep_once()).full:
                    await asyncio.sleep(0)
            except RuntimeUnavailable:
                # The store cannot write now (disk full, database away): the
                # deadlines stand, and the next sweep tries again.
                continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("embedded runtime %s: a culling sweep failed; trying again next interval", self._name)
