"""The SQLite store's event JSON is ``json.dumps``'s text, character for character (decisions 0192, 0193).

The shapes every input writes (``worker.input_accepted`` and
``worker.output``, ``worker.turn_started``, ``worker.turn_completed``) are
written directly; any other shape, or a value of another type in one of
those shapes (a ``bool`` where an ``int`` goes, a float, a nested list),
must still come out as ``json.dumps`` writes it.
"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime_registry.runtimes.embedded.sqlite_store import _event_json

# Every character, lone surrogates, quotes, backslashes and control characters included.
texts = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=40)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), texts)
others = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(texts, scalars, max_size=3))
ints = st.one_of(st.integers(), st.integers(min_value=-(2**80), max_value=2**80))


def reference(data: dict) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


@settings(max_examples=300)
@given(sequence=st.one_of(ints, others), role=st.one_of(texts, others), content=st.one_of(texts, others))
def test_content_events(sequence, role, content):
    data = {"transcript_sequence": sequence, "role": role, "content": content}
    assert _event_json(data) == reference(data)
    reordered = {"role": role, "transcript_sequence": sequence, "content": content}
    assert _event_json(reordered) == reference(reordered)  # key order is kept


@settings(max_examples=300)
@given(
    turn=st.one_of(ints, others),
    usage=st.one_of(
        st.none(),
        st.fixed_dictionaries({"input_tokens": st.one_of(ints, others), "output_tokens": st.one_of(ints, others)}),
        st.fixed_dictionaries({"output_tokens": ints, "input_tokens": ints}),
        others,
    ),
    stop=st.one_of(st.none(), texts, others),
)
def test_turn_events(turn, usage, stop):
    for data in ({"turn": turn}, {"turn": turn, "usage": usage, "stop_reason": stop}):
        assert _event_json(data) == reference(data)


@settings(max_examples=200)
@given(st.dictionaries(texts, others, max_size=4))
def test_any_other_data(data):
    assert _event_json(data) == reference(data)


def test_the_frequent_shapes_and_their_near_misses():
    for data in (
        {"turn": 7},
        {"turn": True},
        {"turn": 7.0},
        {"transcript_sequence": 1, "role": "user", "content": 'a "quoted" \\ line\n\u2028 ✓ \ud800'},
        {"transcript_sequence": False, "role": "user", "content": "x"},
        {"turn": 2, "usage": None, "stop_reason": None},
        {"turn": 2, "usage": {"input_tokens": 3, "output_tokens": 4}, "stop_reason": "end_turn"},
        {"turn": 2, "usage": {"input_tokens": 3, "output_tokens": True}, "stop_reason": "end_turn"},
        {"turn": 2, "usage": {"input_tokens": 3}, "stop_reason": "end_turn"},
        {"turn": 2, "usage": {"input_tokens": 3, "output_tokens": 4, "cached": 1}, "stop_reason": "x"},
    ):
        assert _event_json(data) == reference(data), data
