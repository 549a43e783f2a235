"""The converter: strict JSON in, field paths in every error, JSON-ready data out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from registry_core import (
    CreateWorkerRequest,
    Diagnostic,
    InputKind,
    InputRequest,
    IntentKind,
    InvalidRequest,
    RuntimeLimits,
    structure,
    unstructure,
)
from registry_core.errors import ERROR_TYPES


def details(data, cls):
    with pytest.raises(InvalidRequest) as caught:
        structure(data, cls)
    return [(d["path"], d["message"]) for d in caught.value.details]


def test_valid_create_request():
    request = structure(
        {"intent": {"kind": "task", "objective": "sort"}, "profile": "builtin:echo", "label": "Sorter"},
        CreateWorkerRequest,
    )
    assert request.intent.kind is IntentKind.TASK
    assert request.profile == "builtin:echo"


def test_empty_create_request_is_all_defaults():
    assert structure({}, CreateWorkerRequest) == CreateWorkerRequest()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"content": ""}, [("content", "must not be empty")]),
        ({"content": "   "}, [("content", "must not be empty")]),
        ({}, [("content", "required field is missing")]),
        ({"content": 5}, [("content", "must be a string")]),
        ({"content": "x", "kind": "bot"}, [("kind", "must be one of 'user', 'system'")]),
        ({"content": "x", "extra": 1}, [("extra", "unknown field")]),
        ([], [("", "must be an object")]),
    ],
)
def test_input_errors_name_the_field(data, expected):
    assert details(data, InputRequest) == expected


def test_nested_and_indexed_paths():
    found = details({"intent": {"kind": "nope"}, "capabilities": ["tools", 1], "label": "a\nb"}, CreateWorkerRequest)
    assert ("intent.kind", "must be one of 'assistant', 'task', 'role'") in found
    assert ("capabilities[1]", "must be a string") in found
    assert ("label", "must not contain control characters") in found


def test_string_is_not_an_array():
    assert details({"capabilities": "tools"}, CreateWorkerRequest) == [("capabilities", "must be an array")]


def test_booleans_are_not_integers():
    assert details({"a": True}, dict[str, int]) == [("a", "must be an integer")]


def test_unstructure_gives_plain_json():
    when = datetime(2026, 11, 24, 2, 30, 0, 123456, tzinfo=UTC)
    assert unstructure({"d": Diagnostic.info("c", "m"), "t": when, "k": InputKind.SYSTEM}) == {
        "d": {"code": "c", "severity": "info", "message": "m"},
        "t": "2026-11-24T02:30:00.123Z",
        "k": "system",
    }


def test_every_error_code_is_distinct_and_in_the_contract():
    contract = {
        "unknown_runtime",
        "unknown_worker",
        "worker_busy",
        "queue_full",
        "worker_stopped",
        "runtime_unavailable",
        "runtime_timeout",
        "unsupported_operation",
        "invalid_identifier",
        "invalid_request",
        "unknown_profile",
        "limit_too_large",
        "capacity_exceeded",
        "cursor_expired",
        "malformed_request",
    }
    assert set(ERROR_TYPES) == contract


def test_kind_specific_limits_read_back_as_the_numbers_they_were():
    # What a client reads back from a summary (the remote kind and the Python client structure it).
    data = unstructure(RuntimeLimits(1, 1, 1, kind_specific={"max_page_bytes": 65536, "timeout_seconds": 2.5}))
    limits = structure(data, RuntimeLimits)
    assert dict(limits.kind_specific) == {"max_page_bytes": 65536, "timeout_seconds": 2.5}
    assert type(limits.kind_specific["max_page_bytes"]) is int
    with pytest.raises(InvalidRequest) as refused:
        structure({**data, "kind_specific": {"flag": True}}, RuntimeLimits)
    assert refused.value.details == ({"path": "kind_specific.flag", "message": "must be a number"},)
