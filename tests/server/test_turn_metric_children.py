"""The turn families' children are cached by the watcher's values (decision 0243): the counts are those of labels().

Each call is checked against a count kept here by the label set prometheus
would give it, over interleaved runtimes, profiles, ends and failure codes,
past the profile and code bounds (values folded into ``other``) and past the
cache's own bound. A cache keyed on less than every value (a mutant dropping
the profile, the end or the code from its key) counts some turns under
another label set, and fails.
"""

from __future__ import annotations

import collections
import types

from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from runtime_registry.server.observe import metrics as metrics_module
from runtime_registry.server.observe.labels import OTHER, BoundedValues
from runtime_registry.server.observe.metrics import Metrics


class _NoRuntimes:
    runtime_ids = ()


def _metrics() -> Metrics:
    return Metrics(_NoRuntimes(), types.SimpleNamespace(plugins=[]))  # type: ignore[arg-type]


# Few values, so that calls share label sets; the bounds are made small to reach "other".
_PROFILES = st.sampled_from([None, "default", "model", "slow", "has space"])
_ENDS = st.sampled_from(["completed", "failed", "cancelled"])
_CODES = st.sampled_from([None, "engine_error", "turn_timeout", "provider_error"])
_CALLS = st.lists(
    st.tuples(st.sampled_from(["a", "b"]), _PROFILES, st.booleans(), _ENDS, _CODES, st.sampled_from([None, 0.5])),
    max_size=200,
)
PROFILE_LIMIT, CODE_LIMIT = 2, 1


@given(_CALLS, st.sampled_from([3, 4096]))
@hypothesis_settings(max_examples=100, deadline=None)
def test_cached_children_count_what_labels_would(calls, cache_max):
    original = metrics_module.CHILD_CACHE_MAX
    metrics_module.CHILD_CACHE_MAX = cache_max
    try:
        metrics = _metrics()
        metrics.profiles, metrics.codes = BoundedValues(PROFILE_LIMIT), BoundedValues(CODE_LIMIT)
        started: collections.Counter[tuple[str, str]] = collections.Counter()
        ended: collections.Counter[tuple[str, str, str, str]] = collections.Counter()
        timed: collections.Counter[tuple[str, str, str]] = collections.Counter()
        profile_seen: list[str] = []
        code_seen: list[str] = []

        def bounded(seen: list[str], value: str | None, limit: int) -> str:
            # BoundedValues' rule, written out: the first ``limit`` names pass; others and odd values are "other".
            if value is None:
                return ""
            if value in seen:
                return value
            if " " in value or len(seen) >= limit:
                return OTHER
            seen.append(value)
            return value

        for runtime, profile, is_start, end, code, seconds in calls:
            if is_start:
                metrics.turn_started(runtime, profile)
                started[runtime, bounded(profile_seen, profile, PROFILE_LIMIT)] += 1
            else:
                metrics.turn_ended(runtime, profile, end, code=code, seconds=seconds, usage=None)
                label = bounded(profile_seen, profile, PROFILE_LIMIT)
                code_label = bounded(code_seen, code, CODE_LIMIT) if end == "failed" else ""
                ended[runtime, label, end, code_label] += 1
                if seconds is not None:
                    timed[runtime, label, end] += 1
        sample = metrics.collectors.get_sample_value
        for (runtime, profile), count in started.items():
            assert sample("runtime_registry_turns_started_total", {"runtime": runtime, "profile": profile}) == count
        for (runtime, profile, end, code), count in ended.items():
            labels = {"runtime": runtime, "profile": profile, "end": end, "code": code}
            assert sample("runtime_registry_turns_ended_total", labels) == count
        for (runtime, profile, end), count in timed.items():
            labels = {"runtime": runtime, "profile": profile, "end": end}
            assert sample("runtime_registry_turn_duration_seconds_count", labels) == count
        assert sum(started.values()) == _total(metrics, "runtime_registry_turns_started_total")
        assert sum(ended.values()) == _total(metrics, "runtime_registry_turns_ended_total")
    finally:
        metrics_module.CHILD_CACHE_MAX = original


def _total(metrics: Metrics, name: str) -> float:
    return sum(
        sample.value for family in metrics.collectors.collect() for sample in family.samples if sample.name == name
    )
