"""The HTTP request families, tallied in plain Python and rendered when scraped.

``http_requests_total{route,method,status}`` and
``http_request_duration_seconds{route,method}`` are fed by every request, so
they are not ``prometheus_client`` metric objects: an ``inc()`` and an
``observe()`` there take a lock per value, and a histogram's ``observe()``
walks its buckets. Here a request adds to one slot's counter, one bucket and
one sum (the event loop is the only writer, so nothing needs a lock), and the
cumulative buckets are computed when ``/metrics`` is read, which also runs on
the loop. The exposition is the same as the metric objects' (decision 0240).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from runtime_registry.server.observe.tally_histogram import Durations, histogram_family

__all__ = ["HttpTally", "RouteSlot"]


class RouteSlot:
    """What one ``(route, method, status)`` feeds: its request counter and its route's histogram."""

    __slots__ = ("bounds", "durations", "requests")

    def __init__(self, bounds: tuple[float, ...], durations: Durations) -> None:
        self.bounds = bounds
        self.durations = durations
        self.requests = 0

    def record(self, seconds: float) -> None:
        """Count one request that took ``seconds``."""
        self.requests += 1
        durations = self.durations
        # A bucket holds the values up to and including its bound, as Prometheus's ``le`` says.
        durations.counts[bisect_left(self.bounds, seconds)] += 1
        durations.total += seconds


class HttpTally(Collector):
    """The two HTTP families of one app (its own registry's collector).

    :param prefix: the families' name prefix.
    :param bounds: the histogram's bucket bounds, increasing.
    """

    def __init__(self, prefix: str, bounds: tuple[float, ...]) -> None:
        self.prefix = prefix
        self.bounds = bounds
        self._slots: dict[tuple[str, str, str], RouteSlot] = {}
        self._durations: dict[tuple[str, str], Durations] = {}

    def slot(self, route: str, method: str, status: str) -> RouteSlot:
        """The slot of one label set (created at its first request; label values must be bounded)."""
        key = (route, method, status)
        slot = self._slots.get(key)
        if slot is None:
            durations = self._durations.get((route, method))
            if durations is None:
                durations = self._durations[(route, method)] = Durations(len(self.bounds))
            slot = self._slots[key] = RouteSlot(self.bounds, durations)
        return slot

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            f"{self.prefix}_http_requests", "HTTP requests answered", labels=["route", "method", "status"]
        )
        for request_labels, slot in self._slots.items():
            requests.add_metric(list(request_labels), slot.requests)
        durations = histogram_family(
            f"{self.prefix}_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer",
            ["route", "method"],
            self.bounds,
            self._durations,
        )
        yield requests
        yield durations

    def describe(self) -> Iterator[Metric]:
        return iter(())
