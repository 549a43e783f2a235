"""What the plain-Python tallies share: a histogram's counts, and its exposition (decisions 0240, 0245).

A tally adds a value to one bucket and the sum (:class:`Durations`); the
cumulative buckets Prometheus exposes are computed only when ``/metrics`` is
read (:func:`histogram_family`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from prometheus_client.core import HistogramMetricFamily
from prometheus_client.utils import floatToGoString

__all__ = ["Durations", "histogram_family"]

#: A label set: one value per label name.
LabelValues = TypeVar("LabelValues", bound=tuple[str, ...])


class Durations:
    """One label set's histogram: a count per bucket (the last is +Inf) and the sum."""

    __slots__ = ("counts", "total")

    def __init__(self, buckets: int) -> None:
        self.counts = [0] * (buckets + 1)
        self.total = 0.0


def histogram_family(
    name: str,
    documentation: str,
    labels: list[str],
    bounds: tuple[float, ...],
    histograms: Mapping[LabelValues, Durations],
) -> HistogramMetricFamily:
    """The family ``name`` with one histogram per label set, buckets cumulative as Prometheus's ``le`` says."""
    family = HistogramMetricFamily(name, documentation, labels=labels)
    edges = [*map(floatToGoString, bounds), "+Inf"]
    for label_values, histogram in histograms.items():
        cumulative, buckets = 0, []
        for edge, count in zip(edges, histogram.counts, strict=True):
            cumulative += count
            buckets.append((edge, cumulative))
        family.add_metric(list(label_values), buckets, histogram.total)
    return family
