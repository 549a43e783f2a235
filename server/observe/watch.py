"""A task per runtime that follows its event feed (turn metrics) and one that watches runtime statuses (log lines).

The turn families are fed from the events every kind emits (the event
contract: ``worker.turn_started`` and the four ends, ``usage`` on
``worker.turn_completed``), read through the registry like any client reads
them — so they count turns of every kind, embedded, remote or a plugin's,
without a kind doing anything. The watcher starts at the end of the feed
(turns before the server started are not counted again), waits for events
where the kind can (``wait_for_events``) and polls where it cannot, and when
it falls behind the retention it counts a gap and goes on from the oldest
event retained.

The status watcher logs a runtime that becomes ``degraded`` or
``unavailable`` as one WARNING line with its diagnostic codes, and its
recovery as one INFO line. (A failed turn's WARNING line is the runtime's
own: the embedded runtime writes it with its cause; nothing here writes a
second one.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from datetime import datetime

from registry_core.errors import CursorExpired, LimitTooLarge, RegistryError, UnsupportedOperation
from registry_core.models import Event, RuntimeStatus, RuntimeSummary
from runtime_registry.host.registry import RuntimeRegistry
from runtime_registry.server.observe.metrics import TURN_ENDS, Metrics

__all__ = ["RuntimeWatch", "status_line"]

log = logging.getLogger("runtime_registry.runtimes")
debug = logging.getLogger(__name__)

#: How long the startup waits for a runtime's feed to be read to its end (a slower one is followed from where it is then).
START_SECONDS = 5.0
#: How long one wait for events lasts before the watcher asks again.
WAIT_SECONDS = 30.0
#: How often a runtime that cannot wait for events is polled, and statuses are read.
POLL_SECONDS = 2.0
STATUS_SECONDS = 5.0
#: How long a follower lets events gather after a wake-up before it reads them (turn metrics lag by at most this).
COALESCE_SECONDS = 0.05
#: Workers whose profile the watcher remembers (a worker it does not know is looked up once).
PROFILE_MEMORY = 100_000
_UNHEALTHY = (RuntimeStatus.DEGRADED, RuntimeStatus.UNAVAILABLE)
#: The events counted under their worker's profile.
_COUNTED = frozenset({"worker.turn_started", *TURN_ENDS})
#: The events the follower looks at.
_SEEN = frozenset({"worker.created", "worker.deleted", "worker.stopped", *_COUNTED})


class RuntimeWatch:
    """The watcher tasks of one app: start them after the runtimes, stop them before closing the runtimes.

    :param registry: the runtimes.
    :param metrics: the families the turns feed (``None``: statuses only).
    """

    def __init__(self, registry: RuntimeRegistry, metrics: Metrics | None) -> None:
        self.registry = registry
        self.metrics = metrics
        self._tasks: list[asyncio.Task[None]] = []
        self._statuses: dict[str, RuntimeStatus] = {}

    async def start(self, runtimes: Iterable[RuntimeSummary]) -> None:
        """Start following ``runtimes`` (the summaries the startup read), and watching their statuses.

        Each feed's end is found before this returns (up to :data:`START_SECONDS`,
        all runtimes at once), so a turn started once the server serves is counted.
        """
        followers = []
        for runtime in runtimes:
            self._statuses[runtime.runtime_id] = runtime.status
            if self.metrics is not None:
                followers.append(
                    _TurnFollower(self.registry, self.metrics, runtime.runtime_id, runtime.limits.event_page_max)
                )
        await asyncio.gather(*(follower.find_the_end() for follower in followers))
        for follower in followers:
            self._tasks.append(asyncio.create_task(follower.run(), name=f"watch-{follower.runtime_id}"))
        self._tasks.append(asyncio.create_task(self._watch_statuses(), name="watch-statuses"))

    async def stop(self) -> None:
        """Cancel the tasks and wait for them."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    async def _watch_statuses(self) -> None:
        while True:
            await asyncio.sleep(STATUS_SECONDS)
            try:
                runtimes = (await self.registry.list_runtimes()).items
            except Exception:
                debug.debug("reading the runtimes' statuses failed", exc_info=True)
                continue
            for runtime in runtimes:
                before = self._statuses.get(runtime.runtime_id)
                self._statuses[runtime.runtime_id] = runtime.status
                if before is not None and before is not runtime.status:
                    level = logging.WARNING if runtime.status in _UNHEALTHY else logging.INFO
                    log.log(level, "%s", status_line(runtime, before))


def status_line(runtime: RuntimeSummary, before: RuntimeStatus | None = None) -> str:
    """``runtime R (kind K): degraded (codes a, b)``; with ``before``, ``... running -> degraded ...``."""
    change = f"{before.value} -> {runtime.status.value}" if before is not None else runtime.status.value
    codes = sorted({d.code for d in runtime.diagnostics if d.severity.value in ("warning", "error")})
    detail = f" (codes {', '.join(codes)})" if codes and runtime.status is not RuntimeStatus.RUNNING else ""
    return f"runtime {runtime.runtime_id} (kind {runtime.kind}): {change}{detail}"


class _TurnFollower:
    """Follows one runtime's events and counts its turns."""

    def __init__(self, registry: RuntimeRegistry, metrics: Metrics, runtime_id: str, page_size: int | None) -> None:
        self.registry = registry
        self.metrics = metrics
        self.runtime_id = runtime_id
        # The runtime's largest page: under load a wake-up finds hundreds of events, and each
        # page costs the call guard and a page object, whatever its size (decision 0256).
        self.page_size: int | None = page_size
        self.profiles: dict[str, str | None] = {}
        #: The start of each running turn, and whether that start was counted.
        self.started: dict[str, tuple[datetime, bool]] = {}
        self.cursor: int | None = None
        self.readable = True

    async def find_the_end(self) -> None:
        """Read the feed to its end without counting (what happened before the server started)."""
        try:
            async with asyncio.timeout(START_SECONDS):
                self.cursor = await self._catch_up(None, count=False)
        except TimeoutError:
            pass  # run() goes on from wherever the reading got
        except Exception:
            debug.debug("runtime %s: its events cannot be read; its turns are not counted", self.runtime_id)
            self.readable = False

    async def run(self) -> None:
        if not self.readable:
            return
        cursor = self.cursor if self.cursor is not None else await self._catch_up(None, count=False)
        can_wait = True
        while True:
            try:
                if can_wait:
                    try:
                        await self.registry.wait_for_events(self.runtime_id, cursor=cursor, timeout=WAIT_SECONDS)
                    except UnsupportedOperation:
                        can_wait = False
                        continue
                    # One read for what a short while brings: under load it counts many
                    # turns, where a read per wake-up cost each input ~80 µs of CPU
                    # (docs/performance.md, "What /metrics costs a request").
                    await asyncio.sleep(COALESCE_SECONDS)
                else:
                    await asyncio.sleep(POLL_SECONDS)
                cursor = await self._catch_up(cursor, count=True)
            except CursorExpired:
                self.metrics.events_missed.labels(self.runtime_id).inc()
                cursor = await self._catch_up(None, count=True)
            except RegistryError:
                # Unavailable or too slow for now: try again a little later.
                await asyncio.sleep(POLL_SECONDS)

    async def _catch_up(self, cursor: int | None, *, count: bool) -> int:
        """Read every event after ``cursor``; count the turns in them if ``count``. Returns the next cursor."""
        while True:
            try:
                page = await self.registry.read_events(self.runtime_id, cursor=cursor, limit=self.page_size)
            except LimitTooLarge:
                # The runtime lowered its largest page since it was listed: its default page from now on.
                self.page_size = None
                continue
            profiles = self.profiles
            for event in page.events:
                # Counting needs the worker's profile; a worker not seen created is looked up
                # first, so that the rest is a plain call, not a coroutine per event.
                worker_id = event.worker_id
                if count and worker_id not in profiles and worker_id is not None and event.type in _COUNTED:
                    await self._profile(worker_id)
                self._see(event, count=count)
            cursor = self.cursor = page.next_cursor
            if not page.has_more:
                return cursor

    def _see(self, event: Event, *, count: bool) -> None:
        worker_id = event.worker_id
        kind = event.type
        # Most events are none of these (an input, an output): one set lookup, not five compares.
        if worker_id is None or kind not in _SEEN:
            return
        if kind == "worker.turn_started":
            self.started[worker_id] = (event.created_at, count)
            if count:
                self.metrics.turn_started(self.runtime_id, self.profiles.get(worker_id))
        elif kind == "worker.created":
            self._remember(worker_id, _text(event.data.get("profile")))
        elif kind == "worker.deleted":
            self.profiles.pop(worker_id, None)
            self.started.pop(worker_id, None)
            self._culled(event, count=count)
        elif kind == "worker.stopped":
            self._culled(event, count=count)
        elif kind in TURN_ENDS:
            start = self.started.pop(worker_id, None)
            # Ends are counted as their starts were: the two families always agree.
            if not count or (start is not None and not start[1]):
                return
            began = start[0] if start is not None else None
            usage = event.data.get("usage")
            self.metrics.turn_ended(
                self.runtime_id,
                self.profiles.get(worker_id),
                TURN_ENDS[event.type],
                code=_text(event.data.get("code")),
                seconds=(event.created_at - began).total_seconds() if began is not None else None,
                usage=usage if isinstance(usage, dict) else None,
            )

    def _culled(self, event: Event, *, count: bool) -> None:
        """A stop or delete the kind made by itself carries a ``reason`` (culling): count it by that reason."""
        reason = _text(event.data.get("reason"))
        if count and reason is not None:
            self.metrics.workers_culled.labels(self.runtime_id, self.metrics.reasons(reason)).inc()

    async def _profile(self, worker_id: str) -> str | None:
        if worker_id not in self.profiles:
            try:
                profile = (await self.registry.get_worker(self.runtime_id, worker_id)).profile
            except Exception:
                profile = None
            self._remember(worker_id, profile)
        return self.profiles.get(worker_id)

    def _remember(self, worker_id: str, profile: str | None) -> None:
        if len(self.profiles) >= PROFILE_MEMORY:
            self.profiles.pop(next(iter(self.profiles)))
        self.profiles[worker_id] = profile


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
