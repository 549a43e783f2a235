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
        "\U000e0041\U000e0042",  # tag characters only: an invisible label (issue 24)
        "build\U000e0069\U000e0067bot",  # tag characters hidden in visible text
        "\U000e0001x",  # the language tag
        "x\U000e007f",  # cancel tag
        "line\u2028break",  # line separator
        "para\u2029break",  # paragraph separator
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
        ("flag \U0001f3f4", "flag \U0001f3f4"),  # beyond U+FFFF, not a tag character
        ("\U000e0100x", "\U000e0100x"),  # a variation selector of the same surrogate block
    ],
)
def test_a_visible_label_is_kept_as_sent(sent, stored):
    assert structure({"label": sent}, CreateWorkerRequest).label == stored


def test_input_content_stays_exactly_the_users_text():
    content = "  \u202eabc\u200b  "
    assert structure({"content": content}, InputRequest).content == content


def test_the_label_rules_are_in_the_openapi_document():
    from registry_core.constraints import NO_BIDI_CONTROLS, NO_LINE_SEPARATORS, NO_TAG_CHARACTERS, VISIBLE
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
    assert {NO_BIDI_CONTROLS.regex, VISIBLE.regex, NO_LINE_SEPARATORS.regex, NO_TAG_CHARACTERS.regex} <= found


def test_the_tag_character_rule_reads_alike_in_ecma_262_terms():
    """The OpenAPI pattern (UTF-16 code units) refuses what the Python rule refuses."""
    import re

    from registry_core.constraints import NO_TAG_CHARACTERS

    def utf16_units(text: str) -> str:
        """``text`` as ECMA-262 sees it: one character per UTF-16 code unit."""
        encoded = text.encode("utf-16-le")
        return "".join(chr(int.from_bytes(encoded[i : i + 2], "little")) for i in range(0, len(encoded), 2))

    ecma = re.compile(NO_TAG_CHARACTERS.regex[:-1] + r"\Z")
    for text in ["abc", "\U000e0041", "a\U000e007fb", "\U000e0100", "\U0001f600", "\U000e0000"]:
        assert (ecma.search(utf16_units(text)) is not None) == NO_TAG_CHARACTERS.matches(text), text
