"""Turn slots in ``/metrics``: turns running, the admission bound, and inputs waiting (decision 0190).

Read from each provider that reports them, when scraped, through an optional
``turn_slots()`` (the embedded kind over a memory or SQLite store):
``(turns running, max_concurrent_turns, workers waiting for a slot, inputs
queued behind turns)``. Other kinds have no row.

Families (prefixed ``runtime_registry_``): ``turns_running{runtime}``,
``turn_slots{runtime}`` (the bound), ``inputs_waiting{runtime,reason}``
(``reason``: ``admission`` — a worker waits for a turn slot — or ``busy`` —
queued behind its worker's turn with ``if_busy: "enqueue"``).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from runtime_registry.host.registry import RuntimeRegistry

__all__ = ["TurnSlotCollector"]

PREFIX = "runtime_registry"


class TurnSlotCollector(Collector):
    """The turn-slot gauges of every runtime whose provider reports them, read when scraped."""

    def __init__(self, registry: RuntimeRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        running = GaugeMetricFamily(f"{PREFIX}_turns_running", "Turns running now", labels=["runtime"])
        slots = GaugeMetricFamily(
            f"{PREFIX}_turn_slots", "Turns that may run at once (max_concurrent_turns)", labels=["runtime"]
        )
        waiting = GaugeMetricFamily(
            f"{PREFIX}_inputs_waiting",
            "Accepted inputs waiting: for a turn slot (admission) or behind their worker's turn (busy)",
            labels=["runtime", "reason"],
        )
        for runtime_id in self.registry.runtime_ids:
            slots_of = getattr(self.registry.built_provider(runtime_id), "turn_slots", None)
            counts = slots_of() if callable(slots_of) else None
            if counts is None:
                continue
            now, bound, admission, queued = counts
            running.add_metric([runtime_id], now)
            slots.add_metric([runtime_id], bound)
            waiting.add_metric([runtime_id, "admission"], admission)
            waiting.add_metric([runtime_id, "busy"], queued)
        yield running
        yield slots
        yield waiting

    def describe(self) -> Iterator[Metric]:
        return iter(())
