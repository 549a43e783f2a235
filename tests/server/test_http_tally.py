"""The HTTP families tallied by hand expose what prometheus_client's own metric objects would (decision 0240)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from runtime_registry.server.observe.http_tally import HttpTally

BOUNDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LABELS = st.tuples(
    st.sampled_from(["/api/runtimes", "/api/runtimes/{runtime_id}/workers", "unmatched"]),
    st.sampled_from(["GET", "POST"]),
    st.sampled_from(["200", "202", "404"]),
)
# Bounds themselves, values around them, zero and values past the last bound.
SECONDS = st.one_of(st.sampled_from([0.0, *BOUNDS, 11.0, 1e6]), st.floats(min_value=0, max_value=20, allow_nan=False))


def samples(registry: CollectorRegistry) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the exposition, by name and label set (label order is not part of the format)."""
    text = generate_latest(registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def reference_registry(observations: list[tuple[tuple[str, str, str], float]]) -> CollectorRegistry:
    registry = CollectorRegistry()
    requests = Counter("p_http_requests", "HTTP requests answered", ["route", "method", "status"], registry=registry)
    durations = Histogram(
        "p_http_request_duration_seconds",
        "Time from a request's arrival to the end of its answer",
        ["route", "method"],
        buckets=BOUNDS,
        registry=registry,
    )
    for (route, method, status), seconds in observations:
        requests.labels(route, method, status).inc()
        durations.labels(route, method).observe(seconds)
    return registry


def tallied_registry(observations: list[tuple[tuple[str, str, str], float]]) -> CollectorRegistry:
    registry = CollectorRegistry()
    tally = HttpTally("p", BOUNDS)
    registry.register(tally)
    for labels, seconds in observations:
        tally.slot(*labels).record(seconds)
    return registry


@pytest.fixture(autouse=True)
def _no_created_series(monkeypatch: pytest.MonkeyPatch) -> None:
    # The app disables the *_created series for its metric objects; the reference does too.
    monkeypatch.setattr("prometheus_client.metrics._use_created", False)


@given(st.lists(st.tuples(LABELS, SECONDS), max_size=40))
def test_the_tally_exposes_what_a_counter_and_histogram_would(observations) -> None:
    reference = samples(reference_registry(observations))
    tallied = samples(tallied_registry(observations))
    assert tallied.keys() == reference.keys()
    for key, value in reference.items():
        assert tallied[key] == pytest.approx(value), key


def test_a_duration_equal_to_a_bound_is_counted_in_that_bucket() -> None:
    tallied = samples(tallied_registry([(("/r", "GET", "200"), 0.005)]))
    bucket = "p_http_request_duration_seconds_bucket"
    assert tallied[(bucket, frozenset({("route", "/r"), ("method", "GET"), ("le", "0.0025")}))] == 0
    assert tallied[(bucket, frozenset({("route", "/r"), ("method", "GET"), ("le", "0.005")}))] == 1
    assert tallied[(bucket, frozenset({("route", "/r"), ("method", "GET"), ("le", "+Inf")}))] == 1


def test_two_statuses_of_one_route_share_its_histogram() -> None:
    tally = HttpTally("p", BOUNDS)
    assert tally.slot("/r", "GET", "200").durations is tally.slot("/r", "GET", "404").durations
    assert tally.slot("/r", "GET", "200") is tally.slot("/r", "GET", "200")
    assert tally.slot("/r", "POST", "200").durations is not tally.slot("/r", "GET", "200").durations
