"""The event stream's own frame rendering writes exactly what sse-starlette and the converter would."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sse_starlette import ServerSentEvent

from registry_core.errors import RuntimeUnavailable
from registry_core.models import Event
from runtime_registry.server.serialization import encode_json, to_json_data
from runtime_registry.server.sse_frames import render_frame, stored_frame

WHEN = datetime(2026, 12, 7, 2, 3, 4, 567891, tzinfo=UTC)

EVENTS = [
    Event(1, "worker.output_delta", "w-1", {"turn": 3, "text": "a few words "}, WHEN),
    Event(2, "worker.created", None, {}, WHEN),
    Event(3, "worker.output", "w-1", {"text": 'quote " backslash \\ line\nbreak\r\u2028 tab\t nul\x00 é 😀'}, WHEN),
    Event(4, "x", "w-2", {"flag": True, "off": False, "none": None, "n": -12, "big": 2**70}, WHEN),
    Event(5, "x", "w-2", {"ratio": 0.1, "nested": {"a": [1, 2, {"b": None}]}}, WHEN),
    Event(6, "x", "w", {"when": WHEN}, WHEN),
    Event(7, "x", "w", {"t": "x"}, datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=timezone(timedelta(hours=5)))),
    Event(8, "x", "w", {"t": "x"}, datetime(2026, 1, 2, 3, 4, 5)),
    Event(9, "bad\ntype\r", "w", {"t": "x"}, WHEN),
    Event(10, "x", "w", {1: "int key"}, WHEN),
]


def reference(event: Event, *, stored: bool) -> bytes:
    data = encode_json(to_json_data(event))
    frame = ServerSentEvent(data, id=str(event.id) if stored else None, event=event.type, sep="\n")
    return frame.encode()


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: str(e.id))
@pytest.mark.parametrize("stored", [True, False])
def test_a_frame_is_byte_for_byte_what_sse_starlette_writes(event, stored):
    assert render_frame(event, "rt", stored=stored) == reference(event, stored=stored)


def test_a_frame_holds_one_data_line_of_json_even_for_text_with_line_breaks():
    frame = render_frame(EVENTS[2], "rt").decode()
    lines = frame.split("\n")
    assert lines[:2] == ["id: 3", "event: worker.output"]
    assert lines[2].startswith("data: ") and lines[3:] == ["", ""]
    assert json.loads(lines[2][6:])["data"]["text"] == EVENTS[2].data["text"]


@pytest.mark.parametrize("data", [{"x": float("nan")}, {"x": object()}, {"x": float("inf")}])
def test_data_that_cannot_be_json_is_the_runtimes_fault(data):
    with pytest.raises(RuntimeUnavailable):
        render_frame(Event(1, "x", None, data, WHEN), "rt")


def test_a_stored_frame_is_rendered_once_per_event_object():
    event = Event(11, "x", "w", {"t": "x"}, WHEN)
    first = stored_frame(event, "rt")
    assert stored_frame(event, "rt") is first
    equal = Event(11, "x", "w", {"t": "x"}, WHEN)
    assert stored_frame(equal, "rt") == first
