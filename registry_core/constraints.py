"""Constraints on text fields, declared once in a type and read by both sides of the wire.

A constrained field of a model is ``Annotated[str, ...]`` with annotated-types
metadata (``Len(1, 200)``) and, for what annotated-types has no word for, the
:class:`Pattern` below. :mod:`registry_core.converter` enforces every one of
them when it structures a request (a ``422`` naming the field), and the server
renders the same metadata as JSON Schema keywords in its OpenAPI document
(``minLength``, ``maxLength``, ``pattern``), so the two cannot drift apart
(docs/decisions/0073).

Example::

    from typing import Annotated
    from annotated_types import Len
    from registry_core.constraints import Pattern

    Slug = Annotated[str, Len(1, 40), Pattern("^[a-z-]*$", "must be lowercase letters or '-'")]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import annotated_types

__all__ = [
    "Pattern",
    "ID_PATTERN",
    "SINGLE_LINE",
    "NOT_BLANK",
    "NO_BIDI_CONTROLS",
    "NO_LINE_SEPARATORS",
    "NO_TAG_CHARACTERS",
    "VISIBLE",
]


@dataclass(frozen=True, slots=True)
class Pattern(annotated_types.BaseMetadata):
    """The text must match ``regex``, a JSON Schema (ECMA-262) pattern, searched as JSON Schema does.

    Anchor it (``^...$``) to match the whole text. In Python the final ``$``
    matches only at the very end (as in ECMA-262, and unlike Python's own
    ``$``, which also matches before a trailing newline).

    :param regex: the pattern, written so that Python's :mod:`re` and ECMA-262
        read it alike (character classes, ``\\uXXXX`` escapes, ``{m,n}``).
    :param message: the validation message when the text does not match
        (``"must not contain control characters"``).
    :param python_regex: the same rule for Python's :mod:`re`, for the rare
        rule the two cannot read alike: characters beyond U+FFFF are one code
        point to Python and a surrogate pair to ECMA-262 (``regex`` then names
        the pair). ``None``: ``regex`` serves both.
    """

    regex: str
    message: str
    python_regex: str | None = None
    #: ``regex`` compiled for Python's :mod:`re`, with ECMA-262's meaning of a final ``$``.
    compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regex = self.python_regex if self.python_regex is not None else self.regex
        python = regex[:-1] + r"\Z" if regex.endswith("$") and not regex.endswith("\\$") else regex
        object.__setattr__(self, "compiled", re.compile(python))

    def matches(self, text: str) -> bool:
        """Whether ``text`` matches (what the converter checks)."""
        return self.compiled.search(text) is not None


#: A runtime or worker id (and a profile selector): 1-120 ASCII letters, digits, ``-``, ``_`` or ``:``.
ID_PATTERN = Pattern("^[A-Za-z0-9_:\\-]{1,120}$", "must be 1-120 characters of ASCII letters, digits, '-', '_' or ':'")
#: No control characters (Unicode category Cc is exactly these two ranges): text shown on one line.
SINGLE_LINE = Pattern("^[^\\u0000-\\u001f\\u007f-\\u009f]*$", "must not contain control characters")
#: Something other than whitespace (``\\S`` in Python is ``not str.isspace()``, what ``str.strip`` strips).
NOT_BLANK = Pattern("\\S", "must not be empty")
#: No bidirectional embedding, override or isolate (U+202A-202E, U+2066-2069):
#: one of them reorders how the rest of a line is shown ("txt.exe" as
#: "exe.txt"), so a label holding one can pass for another in a console. The
#: directional marks (LRM, RLM, ALM), which only orient neutral characters, stay.
NO_BIDI_CONTROLS = Pattern(
    "^[^\\u202a-\\u202e\\u2066-\\u2069]*$",
    "must not contain bidirectional embedding, override or isolate characters (U+202A-202E, U+2066-2069)",
)
#: No line or paragraph separator (U+2028, U+2029): not controls, but they
#: break a line where they are shown (and end a line in JavaScript source).
NO_LINE_SEPARATORS = Pattern("^[^\\u2028\\u2029]*$", "must not contain line or paragraph separators (U+2028, U+2029)")
#: No Unicode tag characters (U+E0000-E007F): invisible copies of ASCII that
#: a reader cannot see and a program (or a language model) reads as text.
#: ECMA-262 sees them as U+DB40 followed by U+DC00-DC7F.
NO_TAG_CHARACTERS = Pattern(
    "^(?:[^\\udb40]|\\udb40[^\\udc00-\\udc7f])*$",
    "must not contain Unicode tag characters (U+E0000-E007F), which are invisible",
    python_regex="^[^\\U000e0000-\\U000e007f]*$",
)
#: At least one character that draws something: not whitespace, not a
#: zero-width or other invisible format character (soft hyphen, U+200B-200F,
#: U+2060-206F, BOM, ...), not a Hangul filler or the blank Braille cell, not a
#: combining mark with nothing to combine with.
VISIBLE = Pattern(
    "[^\\s\\u00ad\\u034f\\u061c\\u115f\\u1160\\u17b4\\u17b5\\u180b-\\u180f\\u200b-\\u200f\\u202a-\\u202e"
    "\\u2060-\\u206f\\u2800\\u3164\\ufe00-\\ufe0f\\ufeff\\uffa0\\ufff9-\\ufffb\\u0300-\\u036f\\u20d0-\\u20ff]",
    "must contain a visible character (not only spaces or zero-width characters)",
)
