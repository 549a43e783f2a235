"""The turn families, tallied in plain Python and rendered when scraped (decision 0245).

``turns_started_total{runtime,profile}``, ``turns_ended_total{runtime,profile,end,code}``
and ``turn_duration_seconds{runtime,profile,end}`` are fed by the metrics
watcher for every turn, on the event loop, which is also where ``/metrics``
is read: nothing needs the lock per value that ``prometheus_client``'s metric
objects take. A turn adds to one counter, and to one bucket and one sum of
its histogram; the cumulative buckets are computed when scraped. The
exposition is what the metric objects exposed (a property test compares them).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from runtime_registry.server.observe.tally_histogram import Durations, histogram_family

__all__ = ["EndSlot", "StartSlot", "TurnTally"]


class StartSlot:
    """The started-turn counter of one ``(runtime, profile)``."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


class EndSlot:
    """What one ``(runtime, profile, end, code)`` feeds: its ended-turn counter and its end's histogram."""

    __slots__ = ("bounds", "count", "durations")

    def __init__(self, bounds: tuple[float, ...], durations: Durations) -> None:
        self.bounds = bounds
        self.durations = durations
        self.count = 0

    def record(self, seconds: float | None) -> None:
        """Count one ended turn, and its duration when its start was seen."""
        self.count += 1
        if seconds is not None:
            durations = self.durations
            # A bucket holds the values up to and including its bound, as Prometheus's ``le`` says.
            durations.counts[bisect_left(self.bounds, seconds)] += 1
            durations.total += seconds


class TurnTally(Collector):
    """The three turn families of one app (its own registry's collector).

    :param prefix: the families' name prefix.
    :param bounds: the duration histogram's bucket bounds, increasing.
    """

    def __init__(self, prefix: str, bounds: tuple[float, ...]) -> None:
        self.prefix = prefix
        self.bounds = bounds
        self._started: dict[tuple[str, str], StartSlot] = {}
        self._ended: dict[tuple[str, str, str, str], EndSlot] = {}
        self._durations: dict[tuple[str, str, str], Durations] = {}

    def start_slot(self, runtime: str, profile: str) -> StartSlot:
        """The started counter of one label set (created when first asked for; label values must be bounded)."""
        key = (runtime, profile)
        slot = self._started.get(key)
        if slot is None:
            slot = self._started[key] = StartSlot()
        return slot

    def end_slot(self, runtime: str, profile: str, end: str, code: str) -> EndSlot:
        """The ended counter and histogram of one label set (both exposed from then on, as labels() did)."""
        key = (runtime, profile, end, code)
        slot = self._ended.get(key)
        if slot is None:
            durations = self._durations.get((runtime, profile, end))
            if durations is None:
                durations = self._durations[(runtime, profile, end)] = Durations(len(self.bounds))
            slot = self._ended[key] = EndSlot(self.bounds, durations)
        return slot

    def collect(self) -> Iterator[Metric]:
        started = CounterMetricFamily(f"{self.prefix}_turns_started", "Turns started", labels=["runtime", "profile"])
        for start_labels, start in self._started.items():
            started.add_metric(list(start_labels), start.count)
        ended = CounterMetricFamily(
            f"{self.prefix}_turns_ended", "Turns ended, by how", labels=["runtime", "profile", "end", "code"]
        )
        for end_labels, end in self._ended.items():
            ended.add_metric(list(end_labels), end.count)
        durations = histogram_family(
            f"{self.prefix}_turn_duration_seconds",
            "Time from a turn's start to its end (as the events' times say)",
            ["runtime", "profile", "end"],
            self.bounds,
            self._durations,
        )
        yield started
        yield ended
        yield durations

    def describe(self) -> Iterator[Metric]:
        return iter(())
