"""The fast renderers of the hot models give exactly what the converter gives."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_core import unstructure
from registry_core.models import (
    Diagnostic,
    Event,
    EventPage,
    InputAccepted,
    Intent,
    IntentKind,
    TranscriptEntry,
    TranscriptPage,
    Worker,
    WorkerActionResult,
    WorkerOverview,
    WorkerPage,
)
from runtime_registry.server.serialization import (
    FAST_TEXT_TYPES,
    FAST_TYPES,
    FRAGMENT_MAX_CONTENT,
    encode_json,
    render_json,
    to_json_data,
)

UTC = datetime(2026, 3, 4, 5, 6, 7, 891234, tzinfo=UTC)
OFFSET = datetime(2026, 3, 4, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5)))
NAIVE = datetime(2026, 3, 4, 5, 6, 7)
WORKER = Worker(
    "rt",
    "w1",
    "embedded",
    "label ü",
    "idle",
    "builtin:echo",
    Intent(IntentKind.TASK, objective="do it"),
    UTC,
    3,
    (Diagnostic.warning("profile_fallback", "fell back"),),
)
BARE_WORKER = Worker("rt", "w2", "embedded", None, "busy", None, None, None, 0)
ENTRY = TranscriptEntry(1, "user", "hi\nthere", 7, OFFSET)
EVENT = Event(9, "worker.output", "w1", {"content": "x", "nested": {"n": [1, 2]}}, NAIVE)


class _Text(str):
    """A str subclass: the encoder writes it as a string, as the converter leaves it."""


SAMPLES = [
    WORKER,
    BARE_WORKER,
    WorkerPage("rt", (WORKER, BARE_WORKER), "next", (Diagnostic.info("i", "note"),)),
    WorkerOverview((WORKER,), None),
    InputAccepted("rt", "w1", 1, 2, "busy"),
    # Fields of the wrong type (the registry checks model types, not field types) render as the converter renders them.
    InputAccepted('rt \u00fc"', "w1", True, "2", None),
    InputAccepted("rt", "w1", None, 3, 7, 2),  # a status that is no str: through the encoder
    InputAccepted(None, 5, 1, 2, "queued", 1.5),
    # One field off the started-turn path's types each (decision 0263): a bool is no int, a subclass no str.
    InputAccepted("rt", "w1", True, 2, "busy"),
    InputAccepted("rt", "w1", 1, False, "busy"),
    InputAccepted(_Text("rt"), "w1", 1, 2, "busy"),
    InputAccepted("rt", "w1", 1, 2, "busy", 0),
    WorkerActionResult("rt", "w1", "stop", True, "stopped"),
    WorkerActionResult(1, None, "cancel", None, 2),
    ENTRY,
    TranscriptPage("rt", "w1", (ENTRY, TranscriptEntry(2, "assistant", "", None, NAIVE)), 1, 50, 2, None),
    EVENT,
    EventPage("rt", (EVENT, Event(10, "worker.created", None, {}, UTC)), 10, True),
]


@pytest.mark.parametrize("model", SAMPLES, ids=lambda m: type(m).__name__)
def test_the_fast_rendering_equals_the_converters(model):
    assert to_json_data(model) == unstructure(model)


def test_every_fast_type_has_a_sample():
    assert set(FAST_TYPES) | set(FAST_TEXT_TYPES) == {type(sample) for sample in SAMPLES}


def test_other_values_go_through_the_converter():
    assert to_json_data({"items": (Diagnostic.error("e", "m"),)}) == {
        "items": [{"code": "e", "severity": "error", "message": "m"}]
    }


@pytest.mark.parametrize("model", SAMPLES, ids=lambda m: type(m).__name__)
def test_the_json_text_decodes_to_what_the_converter_gives(model):
    assert json.loads(render_json(model)) == unstructure(model)


@pytest.mark.parametrize("model", SAMPLES, ids=lambda m: type(m).__name__)
def test_the_json_text_is_the_compact_encoding_of_the_converters_data(model):
    assert render_json(model) == encode_json(unstructure(model))


_STRINGS = st.one_of(st.text(max_size=8), st.text(max_size=8).map(_Text), st.none(), st.integers(-5, 5))
_SCALARS = st.one_of(st.integers(), st.none(), st.booleans(), st.integers(0, 2**80), st.sampled_from(["1", 1.5]))


@given(_STRINGS, _STRINGS, _SCALARS, _SCALARS, _STRINGS, _SCALARS)
def test_an_accepted_input_of_any_field_values_renders_as_the_converter_does(
    runtime_id, worker_id, sequence, event_id, status, position
):
    # The started-turn answer's one-format path (decision 0263) and the per-field one agree with the converter.
    accepted = InputAccepted(runtime_id, worker_id, sequence, event_id, status, position)
    assert render_json(accepted) == encode_json(unstructure(accepted))


def test_a_cached_fragment_is_reused_for_an_equal_model_and_stays_correct():
    renamed = attrs.evolve(WORKER, label="renamed")
    assert render_json(WORKER) == render_json(attrs.evolve(WORKER))
    assert json.loads(render_json(renamed))["label"] == "renamed"


def test_long_transcript_content_is_rendered_without_the_cache():
    entry = TranscriptEntry(1, "user", "x" * (FRAGMENT_MAX_CONTENT + 1), None, UTC)
    assert json.loads(render_json(entry))["content"] == entry.content


def test_a_worker_with_an_unhashable_field_is_rendered_uncached():
    odd = attrs.evolve(WORKER, diagnostics=[Diagnostic.info("a", "b")])
    assert json.loads(render_json(odd))["diagnostics"] == [{"code": "a", "severity": "info", "message": "b"}]
