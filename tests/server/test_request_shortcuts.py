"""The send-input body shortcut (runtime_registry.server.request_parsing) agrees with the converter, which stays the definition."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry_core import InvalidRequest, structure
from registry_core.models import InputKind, InputRequest
from runtime_registry.server.request_parsing import _input_request

_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.sampled_from(["user", "system", "assistant", " ", "\t\n", "caf\u00e9", "\ud800", "x\ud800"]),
    st.lists(st.text(max_size=2), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)
_bodies = st.dictionaries(st.sampled_from(["content", "kind", "role", "Content", ""]), _values, max_size=3)


def _converter(data: dict[str, Any]) -> InputRequest | None:
    try:
        return structure(data, InputRequest)
    except InvalidRequest:
        return None


@settings(max_examples=400, deadline=None)
@given(_bodies)
def test_the_shortcut_takes_a_body_only_when_the_converter_gives_the_same_request(data):
    taken = _input_request(data)
    if taken is not None:
        assert taken == _converter(data)


@pytest.mark.parametrize(
    "data",
    [
        {"content": "benchmark input"},
        {"content": "hello", "kind": "system"},
        {"content": " padded ", "kind": "user"},
    ],
)
def test_the_shortcut_takes_the_usual_bodies(data):
    assert _input_request(data) == _converter(data) is not None


@pytest.mark.parametrize(
    "data",
    [
        {"content": "x", "extra": 1},
        {"content": "   "},
        {"content": "caf\u00e9"},
        {"content": 1},
        {"content": "x", "kind": "assistant"},
        {"content": "x", "kind": ["user"]},
        {"kind": "user"},
    ],
)
def test_the_shortcut_leaves_everything_else_to_the_converter(data):
    assert _input_request(data) is None


def test_the_shortcut_gives_the_kind_as_the_enum():
    assert _input_request({"content": "x", "kind": "system"}).kind is InputKind.SYSTEM
