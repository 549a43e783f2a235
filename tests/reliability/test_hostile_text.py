"""Hostile text in request bodies: nothing a client sends may make a later response unencodable.

JSON lets a client write ``"\\ud800"``: Python decodes it to a lone surrogate,
which cannot be encoded as UTF-8. Accepted into a label or an input, it made
every later response showing it a 500 (worker lists, transcripts, the event
log and stream of the whole runtime). Echoed in an error (an unknown key), it
made that error a 500.
"""

from __future__ import annotations

import json

import pytest

from registry_core import CreateWorkerRequest, InputRequest, InvalidRequest, structure

LONE_SURROGATES = ["\ud800", "a\udfffb", "\udc00" * 3]


def encodes_as_utf8(error: InvalidRequest) -> bool:
    json.dumps(error.to_dict(), ensure_ascii=False).encode("utf-8")
    return True


@pytest.mark.parametrize("text", LONE_SURROGATES)
def test_input_content_with_a_lone_surrogate_is_invalid(text):
    with pytest.raises(InvalidRequest) as raised:
        structure({"content": text}, InputRequest)
    assert [d["path"] for d in raised.value.details] == ["content"]


@pytest.mark.parametrize(
    "body, path",
    [
        ({"label": "\ud800"}, "label"),
        ({"profile": "\udfff"}, "profile"),
        ({"intent": {"kind": "task", "objective": "x\ud800"}}, "intent.objective"),
        ({"intent": {"kind": "role", "role": "\udbff"}}, "intent.role"),
    ],
)
def test_create_fields_with_a_lone_surrogate_are_invalid(body, path):
    with pytest.raises(InvalidRequest) as raised:
        structure(body, CreateWorkerRequest)
    assert [d["path"] for d in raised.value.details] == [path]
    assert encodes_as_utf8(raised.value)


@pytest.mark.parametrize("key", ["\ud800", "x\udc00y", "\udfff" * 400])
def test_an_unknown_key_with_a_lone_surrogate_is_echoed_escaped(key):
    with pytest.raises(InvalidRequest) as raised:
        structure({"content": "hi", key: 1}, InputRequest)
    assert encodes_as_utf8(raised.value)
    assert all(len(d["path"]) <= 160 for d in raised.value.details)


def test_astral_characters_are_ordinary_text():
    assert structure({"content": "ok \U0001f600 \u00e9"}, InputRequest).content == "ok \U0001f600 \u00e9"
