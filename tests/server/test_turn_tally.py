"""The turn families tallied by hand expose what prometheus_client's own metric objects did (decision 0245).

The same turns go to a ``Counter`` pair and a ``Histogram`` (what the app
used before) and to :class:`TurnTally`; every sample of the two expositions,
by name and label set, must be equal, and the text must be equal line for
line (the families keep their names, help texts and order).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from runtime_registry.server.observe.turn_tally import TurnTally

BOUNDS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
STARTS = st.tuples(st.just("start"), st.sampled_from(["a", "b"]), st.sampled_from(["", "model", "other"]))
ENDS = st.tuples(
    st.just("end"),
    st.sampled_from(["a", "b"]),
    st.sampled_from(["", "model"]),
    st.sampled_from(["completed", "failed", "cancelled"]),
    st.sampled_from(["", "engine_error", "turn_timeout"]),
    st.one_of(st.none(), st.sampled_from([0.0, *BOUNDS, 700.0]), st.floats(min_value=0, max_value=900)),
)
TURNS = st.lists(STARTS | ENDS, max_size=40)


@pytest.fixture(autouse=True)
def _no_created_series(monkeypatch: pytest.MonkeyPatch) -> None:
    # The app disables the *_created series for its metric objects; the reference does too.
    monkeypatch.setattr("prometheus_client.metrics._use_created", False)


def _reference(turns) -> CollectorRegistry:
    registry = CollectorRegistry()
    started = Counter("p_turns_started", "Turns started", ["runtime", "profile"], registry=registry)
    ended = Counter("p_turns_ended", "Turns ended, by how", ["runtime", "profile", "end", "code"], registry=registry)
    duration = Histogram(
        "p_turn_duration_seconds",
        "Time from a turn's start to its end (as the events' times say)",
        ["runtime", "profile", "end"],
        buckets=BOUNDS,
        registry=registry,
    )
    for turn in turns:
        if turn[0] == "start":
            started.labels(*turn[1:]).inc()
            continue
        _, runtime, profile, end, code, seconds = turn
        ended.labels(runtime, profile, end, code).inc()
        child = duration.labels(runtime, profile, end)  # the series exists from the first end, timed or not
        if seconds is not None:
            child.observe(seconds)
    return registry


def _tallied(turns) -> CollectorRegistry:
    registry = CollectorRegistry()
    tally = TurnTally("p", BOUNDS)
    registry.register(tally)
    for turn in turns:
        if turn[0] == "start":
            tally.start_slot(*turn[1:]).count += 1
            continue
        _, runtime, profile, end, code, seconds = turn
        tally.end_slot(runtime, profile, end, code).record(seconds)
    return registry


def _samples(registry: CollectorRegistry) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = generate_latest(registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@given(TURNS)
def test_the_tally_exposes_what_the_counters_and_histogram_did(turns) -> None:
    reference, tallied = _samples(_reference(turns)), _samples(_tallied(turns))
    assert tallied.keys() == reference.keys()
    for key, value in reference.items():
        assert tallied[key] == pytest.approx(value), key


@given(TURNS)
def test_the_text_is_the_same_but_for_label_order_and_float_sums(turns) -> None:
    def lines(registry: CollectorRegistry) -> list[str]:
        kept = []
        for line in generate_latest(registry).decode().splitlines():
            if line.startswith("#"):
                kept.append(line)
            else:
                name = line.split("{", 1)[0].split(" ", 1)[0]
                kept.append(name)
        return kept

    assert lines(_tallied(turns)) == lines(_reference(turns))


def test_ends_of_one_runtime_profile_and_end_share_a_histogram_whatever_the_code() -> None:
    tally = TurnTally("p", BOUNDS)
    assert tally.end_slot("a", "m", "failed", "x").durations is tally.end_slot("a", "m", "failed", "y").durations
    assert tally.end_slot("a", "m", "failed", "x") is tally.end_slot("a", "m", "failed", "x")
    assert tally.end_slot("a", "m", "completed", "").durations is not tally.end_slot("a", "m", "failed", "x").durations
    assert tally.start_slot("a", "m") is tally.start_slot("a", "m") is not tally.start_slot("b", "m")
