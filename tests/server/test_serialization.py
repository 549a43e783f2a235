"""The fast renderers of the hot models give exactly what the converter gives."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

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
from server.serialization import FAST_TYPES, to_json_data

UTC = datetime(2026, 3, 4, 5, 6, 7, 891234, tzinfo=timezone.utc)
OFFSET = datetime(2026, 3, 4, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5)))
NAIVE = datetime(2026, 3, 4, 5, 6, 7)
WORKER = Worker("rt", "w1", "embedded", "label ü", "idle", "builtin:echo", Intent(IntentKind.TASK, objective="do it"), UTC, 3,
                (Diagnostic.warning("profile_fallback", "fell back"),))
BARE_WORKER = Worker("rt", "w2", "embedded", None, "busy", None, None, None, 0)
ENTRY = TranscriptEntry(1, "user", "hi\nthere", 7, OFFSET)
EVENT = Event(9, "worker.output", "w1", {"content": "x", "nested": {"n": [1, 2]}}, NAIVE)

SAMPLES = [
    WORKER,
    BARE_WORKER,
    WorkerPage("rt", (WORKER, BARE_WORKER), "next", (Diagnostic.info("i", "note"),)),
    WorkerOverview((WORKER,), None),
    InputAccepted("rt", "w1", 1, 2, "busy"),
    WorkerActionResult("rt", "w1", "stop", True, "stopped"),
    ENTRY,
    TranscriptPage("rt", "w1", (ENTRY, TranscriptEntry(2, "assistant", "", None, NAIVE)), 1, 50, 2, None),
    EVENT,
    EventPage("rt", (EVENT, Event(10, "worker.created", None, {}, UTC)), 10, True),
]


@pytest.mark.parametrize("model", SAMPLES, ids=lambda m: type(m).__name__)
def test_the_fast_rendering_equals_the_converters(model):
    assert to_json_data(model) == unstructure(model)


def test_every_fast_type_has_a_sample():
    assert set(FAST_TYPES) == {type(sample) for sample in SAMPLES}


def test_other_values_go_through_the_converter():
    assert to_json_data({"items": (Diagnostic.error("e", "m"),)}) == {"items": [{"code": "e", "severity": "error", "message": "m"}]}
