"""The fast worker-row reader agrees with the converter on every row it takes, and takes nothing the converter refuses.

:mod:`runtime_registry.client.rows` builds workers without the converter for
rows in the rendered shape (decision 0202). Its promise: for any JSON data,
either it declines (``None``: the converter decides) or it returns exactly
what ``structure(data, Worker)`` returns — and it never accepts what the
converter refuses. Checked on rendered models and on generated rows whose
fields are valid, wrong-typed or hostile, one at a time or together.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry_core.converter import structure
from registry_core.errors import InvalidRequest
from registry_core.models import Diagnostic, Intent, IntentKind, Severity, Worker, WorkerPage, WorkerTotals
from runtime_registry.client import MalformedResponse
from runtime_registry.client.rows import (
    WORKER_KEYS,
    worker_from_body,
    worker_page,
    worker_page_from_body,
    worker_row,
)
from runtime_registry.server.serialization import render_json

WORKER = Worker(
    "rt",
    "w-1",
    "embedded",
    "a label",
    "idle",
    "default",
    Intent(IntentKind.TASK, "purpose", None, "a role"),
    datetime(2026, 12, 7, 6, 58, 38, 123000, tzinfo=UTC),
    3,
    (Diagnostic("note", Severity.INFO, "a note"),),
    WorkerTotals(1, 2, 3),
)


def data_of(value: Any) -> Any:
    return json.loads(render_json(value))


def converter_says(data: Any) -> Worker | None:
    try:
        return structure(data, Worker)
    except InvalidRequest:
        return None


texts = st.text(max_size=30) | st.sampled_from(["\ud800", "x\udfff", "ünï", "", "\x00", "a" * 4001])
scalars = st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False) | texts
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3)
)


def field(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field's value: mostly valid, sometimes anything JSON can hold."""
    return st.one_of(valid, valid, valid, json_values)


intents = st.fixed_dictionaries(
    {
        "kind": field(st.sampled_from(["assistant", "task", "role", "overlord"])),
        "purpose": field(st.none() | texts),
        "objective": field(st.none() | texts),
        "role": field(st.none() | texts | st.just("two\nlines")),
    }
)
diagnostics = st.fixed_dictionaries(
    {
        "code": field(texts),
        "severity": field(st.sampled_from(["info", "warning", "error", "fatal"])),
        "message": field(texts),
    }
)
totals = st.fixed_dictionaries(
    {"turns": field(st.integers(0, 9)), "input_tokens": field(st.integers(0, 9)), "output_tokens": field(st.integers())}
)
timestamps = st.sampled_from(
    ["2026-12-07T06:58:38.123Z", "2026-12-07T06:58:38Z", "2026-12-07T07:58:38.5+01:00", "yesterday", "", "2026-13-01"]
)
rows = st.fixed_dictionaries(
    {
        "runtime_id": field(texts),
        "worker_id": field(texts),
        "kind": field(texts),
        "label": field(st.none() | texts),
        "status": field(texts),
        "profile": field(st.none() | texts),
        "intent": field(st.none() | intents),
        "created_at": field(st.none() | timestamps),
        "transcript_length": field(st.integers(-2, 10**12)),
        "diagnostics": field(st.lists(field(diagnostics), max_size=3)),
        "totals": field(st.none() | totals),
    }
)


@settings(max_examples=400, deadline=None)
@given(rows)
def test_a_generated_row_is_read_as_the_converter_reads_it_or_declined(row):
    fast = worker_row(row)
    expected = converter_says(row)
    if expected is None:
        assert fast is None, f"the fast reader took a row the converter refuses: {row!r}"
    elif fast is not None:
        assert fast == expected


@settings(max_examples=100, deadline=None)
@given(rows, st.sampled_from(WORKER_KEYS))
def test_a_row_with_a_key_missing_or_extra_is_left_to_the_converter(row, key):
    missing = {k: v for k, v in row.items() if k != key}
    assert worker_row(missing) is None
    assert worker_row({**row, "extra": 1}) is None


def test_a_rendered_worker_is_read_back_equal_and_readdressed_on_request():
    data = data_of(WORKER)
    assert worker_row(data) == WORKER == structure(data, Worker)
    readdressed = worker_row(data, runtime_id="gpu", kind="remote")
    assert readdressed is not None
    assert (readdressed.runtime_id, readdressed.kind) == ("gpu", "remote")
    assert data_of(readdressed) == data | {"runtime_id": "gpu", "kind": "remote"}


@pytest.mark.parametrize(
    "worker",
    [
        WORKER,
        Worker("rt", "w-2", "k", None, "busy", None, None, None, 0),
        Worker("rt", "w-3", "k", 'ünï "q"', "s", "p", Intent(IntentKind.ROLE, role="r"), WORKER.created_at, 10**12),
        Worker(
            "rt",
            "w-4",
            "k",
            "l",
            "stopped",
            "p",
            None,
            datetime(2026, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=5))),
            1,
            (Diagnostic.error("a", "b"), Diagnostic.warning("c", "d")),
            WorkerTotals(0, 0, 0),
        ),
    ],
    ids=["full", "bare", "unicode-role", "offset-two-diagnostics"],
)
def test_rendered_workers_round_trip(worker):
    data = data_of(worker)
    assert worker_row(data) == structure(data, Worker)
    assert worker_from_body(render_json(worker).encode()) == structure(data, Worker)


def test_a_page_is_read_like_the_converter_reads_it_and_readdressed():
    page = WorkerPage("rt", (WORKER, WORKER), "cursor", (Diagnostic.info("x", "y"),))
    data = data_of(page)
    assert worker_page(data) == structure(data, WorkerPage)
    readdressed = worker_page_from_body(render_json(page).encode(), runtime_id="gpu", kind="remote")
    assert readdressed.runtime_id == "gpu"
    assert {(w.runtime_id, w.kind) for w in readdressed.items} == {("gpu", "remote")}
    assert worker_page({**data, "items": [*data["items"], {"runtime_id": 1}]}) is None


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"runtime_id": 5}',
        json.dumps({**data_of(WORKER), "transcript_length": "3"}).encode(),
        json.dumps({**data_of(WORKER), "label": "\ud800"}).encode(),
        json.dumps({**data_of(WORKER), "created_at": "yesterday"}).encode(),
        b"\xff\xfe",
    ],
    ids=["not-json", "array", "wrong-shape", "string-length", "surrogate", "bad-time", "not-utf8"],
)
def test_a_body_that_is_not_a_worker_is_malformed_response(body):
    with pytest.raises(MalformedResponse):
        worker_from_body(body)
    with pytest.raises(MalformedResponse):
        worker_from_body(body, runtime_id="gpu", kind="remote")


def test_a_valid_row_in_another_shape_is_read_by_the_converter_and_readdressed():
    data = data_of(WORKER)
    reordered = dict(reversed(list(data.items())))
    older = {k: v for k, v in data.items() if k != "totals"}
    for variant in (reordered, older):
        assert worker_row(variant) is None
        worker = worker_from_body(json.dumps(variant).encode(), runtime_id="gpu", kind="remote")
        assert worker == structure(variant | {"runtime_id": "gpu", "kind": "remote"}, Worker)
