"""The Prometheus metric families, and ``GET /metrics`` in the text exposition format.

Each app has its own :class:`prometheus_client.CollectorRegistry` (two apps in
one process, as in the tests, never share counts). Label values are bounded
(:mod:`.labels`): route *templates* (never a path with ids in it), methods
from a fixed set, runtime ids and profile names from the configuration,
failure codes and worker statuses as the kinds name them, capped per family.

Families (all prefixed ``runtime_registry_``):

- ``http_requests_total{route,method,status}``, ``http_request_duration_seconds{route,method}``;
- ``turns_started_total{runtime,profile}``, ``turns_ended_total{runtime,profile,end,code}``
  (``end``: completed, failed, cancelled, interrupted; ``code`` the failure code, else empty),
  ``turn_duration_seconds{runtime,profile,end}``;
- ``tokens_total{runtime,profile,direction}`` (``direction``: in, out);
- ``workers{runtime,status}`` (counted when scraped), ``runtime_up{runtime,status}``;
- ``event_streams_open{runtime}``;
- ``plugins{state}``, ``plugin_load_failures``;
- ``store_commit_seconds{runtime}`` (count and sum), ``store_queue_depth{runtime}``: stores that commit
  (SQLite: the writer; PostgreSQL: this replica's decision transactions, and those in flight);
  ``store_bytes{runtime}``, ``store_bytes_limit{runtime}``: stores bounded by ``max_store_bytes``
  (memory: content held; SQLite: the file) — each from the provider's optional ``store_stats()``
  (:class:`registry_core.store_hooks.StoreStatsProvider`, decision 0221);
- ``workers_culled_total{runtime,reason}``: workers a runtime stopped or deleted by itself, by the
  ``reason`` of their ``worker.stopped``/``worker.deleted`` (embedded culling: ``idle``, ``expired``);
- ``events_missed_total{runtime}``: events the watcher could not read (they left retention first);
- ``turns_running{runtime}``, ``turn_slots{runtime}``, ``inputs_waiting{runtime,reason}``: turn slots
  and waiting inputs of kinds that report them (:mod:`.turn_slots`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from starlette.responses import Response

from registry_core.models import RuntimeStatus
from registry_core.store_hooks import StoreStats
from runtime_registry.host.plugin_loading import PluginSet
from runtime_registry.host.registry import RuntimeRegistry
from runtime_registry.server.observe.http_tally import HttpTally
from runtime_registry.server.observe.labels import BoundedValues
from runtime_registry.server.observe.turn_slots import TurnSlotCollector
from runtime_registry.server.observe.turn_tally import EndSlot, StartSlot, TurnTally

__all__ = ["Metrics", "metrics_endpoint", "CONTENT_TYPE", "TURN_ENDS", "WORKER_CENSUS_PAGES"]

log = logging.getLogger("runtime_registry.server.metrics")

# The ``*_created`` series (a timestamp per label set) double the output and say nothing a scraper needs.
disable_created_metrics()  # type: ignore[no-untyped-call]

CONTENT_TYPE = CONTENT_TYPE_LATEST
PREFIX = "runtime_registry"
#: The ``end`` label of a turn, by the event type that ended it.
TURN_ENDS = {
    "worker.turn_completed": "completed",
    "worker.turn_failed": "failed",
    "worker.turn_cancelled": "cancelled",
    "worker.turn_interrupted": "interrupted",
}
#: Pages of workers one scrape reads per runtime for ``workers{status}`` (bounds a scrape's cost).
WORKER_CENSUS_PAGES = 100
#: How long a worker census is reused: scrapes closer together than this cost nothing more.
WORKER_CENSUS_SECONDS = 5.0
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_TURN_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class Metrics:
    """The app's metric families and what feeds them.

    :param registry: the runtimes (read when scraped: statuses, worker counts).
    :param plugins: the plugin set (its states are fixed after startup).
    """

    def __init__(self, registry: RuntimeRegistry, plugins: PluginSet) -> None:
        self.registry = registry
        self.collectors = CollectorRegistry(auto_describe=True)
        r = self.collectors
        #: ``http_requests_total`` and ``http_request_duration_seconds``, fed by every request.
        self.http = HttpTally(PREFIX, _HTTP_BUCKETS)
        r.register(self.http)
        #: ``turns_started_total``, ``turns_ended_total`` and ``turn_duration_seconds``, fed per turn (decision 0245).
        self.turns = TurnTally(PREFIX, _TURN_BUCKETS)
        r.register(self.turns)
        self.tokens = Counter(
            f"{PREFIX}_tokens",
            "Model tokens, as the kinds report them",
            ["runtime", "profile", "direction"],
            registry=r,
        )
        self.workers = Gauge(f"{PREFIX}_workers", "Workers by status", ["runtime", "status"], registry=r)
        self.runtime_up = Gauge(
            f"{PREFIX}_runtime_up",
            "1 for the runtime's current status, 0 for the others",
            ["runtime", "status"],
            registry=r,
        )
        self.streams_open = Gauge(f"{PREFIX}_event_streams_open", "Open event streams", ["runtime"], registry=r)
        self.events_missed = Counter(
            f"{PREFIX}_events_missed", "Events the metrics watcher could not read", ["runtime"], registry=r
        )
        self.workers_culled = Counter(
            f"{PREFIX}_workers_culled",
            "Workers a runtime stopped or deleted by itself (reason: idle, expired)",
            ["runtime", "reason"],
            registry=r,
        )
        self.reasons = BoundedValues(limit=10)
        plugin_states = Gauge(f"{PREFIX}_plugins", "Discovered plugins by state", ["state"], registry=r)
        failures = Gauge(f"{PREFIX}_plugin_load_failures", "Plugins that failed to load", registry=r)
        states = [plugin.state.value for plugin in plugins.plugins]
        for state in {*states, "loaded", "failed", "disabled"}:
            plugin_states.labels(state).set(states.count(state))
        failures.set(states.count("failed"))
        self.profiles = BoundedValues()
        self.codes = BoundedValues()
        self.statuses = BoundedValues(limit=20)
        self.collectors.register(_StoreCollector(registry))
        self.collectors.register(TurnSlotCollector(registry))
        self._census_at = -WORKER_CENSUS_SECONDS
        self._census_statuses: dict[str, set[str]] = {}
        # The turn families' slots by the values the watcher passes (decision 0243): mapping the values
        # to labels costs more than counting. A label value, once mapped (BoundedValues), keeps its
        # mapping, and no slot is ever removed.
        self._start_slots: dict[tuple[str, str | None], StartSlot] = {}
        self._end_slots: dict[tuple[str, str | None, str, str | None], EndSlot] = {}

    def http_label(self, route: str | None, method: str) -> tuple[str, str]:
        """The ``route`` and ``method`` labels: the route's template (``unmatched`` when none), a known method."""
        return route or "unmatched", method if method in _METHODS else "other"

    def turn_started(self, runtime: str, profile: str | None) -> None:
        """Count a started turn."""
        key = (runtime, profile)
        slot = self._start_slots.get(key)
        if slot is None:
            slot = self.turns.start_slot(runtime, self.profiles(profile))
            _keep(self._start_slots, key, slot)
        slot.count += 1

    def turn_ended(
        self,
        runtime: str,
        profile: str | None,
        end: str,
        *,
        code: str | None,
        seconds: float | None,
        usage: dict[str, int] | None,
    ) -> None:
        """Count an ended turn, its duration (when its start was seen) and its tokens."""
        labels = (runtime, profile, end, code if end == "failed" else None)
        slot = self._end_slots.get(labels)
        if slot is None:
            code_label = self.codes(code) if end == "failed" else ""
            slot = self.turns.end_slot(runtime, self.profiles(profile), end, code_label)
            _keep(self._end_slots, labels, slot)
        slot.record(None if seconds is None else max(seconds, 0.0))
        if usage:
            profile_label = self.profiles(profile)
            for direction, key in (("in", "input_tokens"), ("out", "output_tokens")):
                count = usage.get(key)
                if isinstance(count, int) and not isinstance(count, bool) and count > 0:
                    self.tokens.labels(runtime, profile_label, direction).inc(count)

    async def refresh(self) -> None:
        """Read what is counted when scraped: runtime statuses, and workers by status (at most every few seconds)."""
        runtimes = (await self.registry.list_runtimes()).items
        for runtime in runtimes:
            for status in RuntimeStatus:
                self.runtime_up.labels(runtime.runtime_id, status.value).set(1 if runtime.status is status else 0)
        now = time.monotonic()
        if now - self._census_at < WORKER_CENSUS_SECONDS:
            return
        self._census_at = now
        for runtime in runtimes:
            if runtime.status not in (RuntimeStatus.RUNNING, RuntimeStatus.DEGRADED):
                continue
            counts = await self._census(runtime.runtime_id)
            if counts is None:
                continue
            # A status no worker has any more reads 0, not its last count.
            for gone in self._census_statuses.get(runtime.runtime_id, set()) - counts.keys():
                self.workers.labels(runtime.runtime_id, gone).set(0)
            for worker_status, count in counts.items():
                self.workers.labels(runtime.runtime_id, worker_status).set(count)
            self._census_statuses.setdefault(runtime.runtime_id, set()).update(counts)

    async def _census(self, runtime_id: str) -> dict[str, int] | None:
        """Workers of one runtime by status (``None`` if it cannot list them now)."""
        counts: dict[str, int] = {}
        cursor = None
        try:
            for _ in range(WORKER_CENSUS_PAGES):
                page = await self.registry.list_workers(runtime_id, cursor=cursor)
                for worker in page.items:
                    status = self.statuses(worker.status)
                    counts[status] = counts.get(status, 0) + 1
                cursor = page.next_cursor
                if cursor is None:
                    break
        except Exception:  # an unavailable runtime or one without listing: keep the last census
            return None
        return counts

    def exposition(self) -> bytes:
        """The text exposition of every family."""
        return generate_latest(self.collectors)


#: How many label sets each turn family's slot cache keeps (beyond them, the values are mapped each time).
CHILD_CACHE_MAX = 4096


def _keep(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) < CHILD_CACHE_MAX:
        cache[key] = value


class _StoreCollector(Collector):
    """Store figures, read from each provider that reports them, when scraped.

    A provider reports them through the optional ``store_stats()``
    (:class:`registry_core.store_hooks.StoreStatsProvider`); a figure it
    leaves ``None`` has no row, and a provider without the method none at all.
    A provider whose ``store_stats()`` raises is skipped (logged): one store
    must not break the scrape.
    """

    def __init__(self, registry: RuntimeRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        latency = SummaryMetricFamily(
            f"{PREFIX}_store_commit_seconds", "Time the store's commits took (count and sum)", labels=["runtime"]
        )
        depth = GaugeMetricFamily(
            f"{PREFIX}_store_queue_depth", "Changes waiting for the store's next commit", labels=["runtime"]
        )
        used = GaugeMetricFamily(
            f"{PREFIX}_store_bytes", "Bytes the store holds against max_store_bytes", labels=["runtime"]
        )
        limit = GaugeMetricFamily(f"{PREFIX}_store_bytes_limit", "The store's max_store_bytes", labels=["runtime"])
        for runtime_id in self.registry.runtime_ids:
            stats = _store_stats(self.registry.built_provider(runtime_id), runtime_id)
            if stats is None:
                continue
            if stats.commits is not None and stats.commit_seconds is not None:
                latency.add_metric([runtime_id], count_value=stats.commits, sum_value=stats.commit_seconds)
            if stats.queue_depth is not None:
                depth.add_metric([runtime_id], stats.queue_depth)
            if stats.bytes_used is not None:
                used.add_metric([runtime_id], stats.bytes_used)
            if stats.bytes_limit is not None:
                limit.add_metric([runtime_id], stats.bytes_limit)
        yield latency
        yield depth
        yield used
        yield limit

    def describe(self) -> Iterator[Metric]:
        return iter(())


def _store_stats(provider: object, runtime_id: str) -> StoreStats | None:
    stats_of = getattr(provider, "store_stats", None)
    if not callable(stats_of):
        return None
    try:
        stats = stats_of()
    except Exception:
        log.exception("metrics: the store_stats() of runtime %s raised; its store figures are left out", runtime_id)
        return None
    return stats if isinstance(stats, StoreStats) else None


def metrics_endpoint(metrics: Metrics) -> Callable[[], Awaitable[Response]]:
    """The ``/metrics`` handler: refresh what is read when scraped, then the text exposition."""

    async def scrape() -> Response:
        await metrics.refresh()
        return Response(metrics.exposition(), media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})

    return scrape
