"""Labels are display text: no bidi reordering, something visible (issue 12, point 10).

Input content is the user's text and is left alone.
"""

from __future__ import annotations

import pytest

from registry_core.converter import structure
from registry_core.errors import InvalidRequest
from registry_core.models import CreateWorkerRequest, InputRequest


@pytest.mark.parametrize(
    "label",
    [
        "invoice\u202etxt.exe",  # right-to-left override
        "\u202bhello",  # right-to-left embedding
        "a\u2067b\u2069",  # right-to-left isolate
        "\u2066x",  # left-to-right isolate
        "   ",  # whitespace only
        "\u200b\u200b",  # zero-width spaces
        "\u200d\u2060\ufeff",  # zero-width joiner, word joiner, BOM
        " \u3164 ",  # a Hangul filler: a letter that draws nothing
        "\u2800",  # the blank Braille cell
        "\u0301",  # a combining mark with nothing to combine with
    ],
)
def test_a_spoofing_or_invisible_label_is_refused_naming_label(label):
    with pytest.raises(InvalidRequest) as raised:
        structure({"label": label}, CreateWorkerRequest)
    assert [detail["path"] for detail in raised.value.details] == ["label"]


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("  build bot  ", "  build bot  "),
        ("\u05e9\u05dc\u05d5\u05dd", "\u05e9\u05dc\u05d5\u05dd"),  # Hebrew, right to left by itself
        ("abc\u200fdef", "abc\u200fdef"),  # a right-to-left mark only fixes neutral characters
        ("\U0001f469\u200d\U0001f4bb dev", "\U0001f469\u200d\U0001f4bb dev"),  # an emoji joined with ZWJ
        ("e\u0301", "e\u0301"),
    ],
)
def test_a_visible_label_is_kept_as_sent(sent, stored):
    assert structure({"label": sent}, CreateWorkerRequest).label == stored


def test_input_content_stays_exactly_the_users_text():
    content = "  \u202eabc\u200b  "
    assert structure({"content": content}, InputRequest).content == content


def test_the_label_rules_are_in_the_openapi_document():
    from registry_core.constraints import NO_BIDI_CONTROLS, VISIBLE
    from runtime_registry.server.openapi import build_openapi

    def strings(node):
        if isinstance(node, dict):
            for value in node.values():
                yield from strings(value)
        elif isinstance(node, list):
            for value in node:
                yield from strings(value)
        elif isinstance(node, str):
            yield node

    found = set(strings(build_openapi(version="0", bearer_auth=False)))
    assert {NO_BIDI_CONTROLS.regex, VISIBLE.regex} <= found
