"""Bounding pages by bytes: how large a value's JSON can be, and where a page must stop.

A page limited by a count alone is as large as its items: 1,000 events that
each quote an input of 65,536 emoji made one 131 MB answer (issue 12). A
runtime that stores text of the client's choosing should bound each page by
the bytes its items take as JSON too, and end a page cut short by that bound
exactly as one cut short by ``limit``: with the cursor (or next start) of the
first item left out, so the client reads on from there.

Example, a provider cutting a page of entries to ``max_page_bytes``::

    from registry_core.page_bytes import fit_to_bytes, json_size

    sizes = [json_size(entry.content) + 100 for entry in entries]
    kept = fit_to_bytes(sizes, max_page_bytes)
    page, cut_short = entries[:kept], kept < len(entries)

The sizes are those of the UTF-8 JSON text (exact for strings, an upper bound
for numbers and unknown values), computed without building any JSON: cheap
enough to take once per stored item.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["DEFAULT_MAX_PAGE_BYTES", "fit_to_bytes", "json_size", "text_size"]

#: A page size bound that suits most runtimes: 1 MiB, the size of the largest request body by default.
DEFAULT_MAX_PAGE_BYTES = 1_048_576

# JSON escapes: most control characters take six bytes (\u0001); the quote,
# the backslash and the five with short escapes (\n, \t, ...) take two. All
# are ASCII, and no byte of a multi-byte UTF-8 sequence is, so they are
# counted on the encoded bytes.
_TWO_BYTE_ESCAPES = b'"\\\b\f\n\r\t'
_SIX_BYTE_ESCAPES = bytes(code for code in range(0x20) if code not in _TWO_BYTE_ESCAPES)
_ESCAPES = _TWO_BYTE_ESCAPES + _SIX_BYTE_ESCAPES


def text_size(text: str) -> int:
    """The bytes ``text`` takes as a JSON string in UTF-8 (as written with ``ensure_ascii=False``), quotes included.

    Every step runs in C (``encode``, ``bytes.translate``): about 100 µs for
    65,536 characters of emoji, under 1 µs for a short text.
    """
    if text.isascii() and text.isprintable():
        # The common case, without encoding: one byte a character, and of the
        # escapes only the quote and the backslash are printable (two bytes each).
        return len(text) + 2 + text.count('"') + text.count("\\")
    data = text.encode("utf-8", "surrogatepass")
    size = len(data) + 2
    escaped = size - 2 - len(data.translate(None, _ESCAPES))
    if escaped:
        six = len(data) - len(data.translate(None, _SIX_BYTE_ESCAPES))
        size += 5 * six + (escaped - six)
    return size


def json_size(value: Any) -> int:
    """The bytes ``value`` takes as compact JSON in UTF-8 (an upper bound where not exact).

    Knows the JSON types (``str``, ``int``, ``float``, ``bool``, ``None``,
    mappings with string keys, lists and tuples); anything else counts as 64
    bytes, which is how much the encoders of this project write for a
    timestamp or an enum value at most.
    """
    # Exact types first, with no isinstance check against an ABC: every stored
    # event's data is measured, and most are small dicts of strings and ints.
    # The sizes are those of the general rules below (a test holds them equal).
    kind = type(value)
    if kind is str:
        return text_size(value)
    if kind is int:
        return len(str(value)) if -(10**18) < value < 10**18 else value.bit_length() * 3 // 10 + 2
    if kind is dict:
        size = 2
        for key, item in value.items():
            # Only str keys are kept (a str subclass equal to one may say otherwise when made a str).
            key_size = _KEY_SIZES.get(key) if type(key) is str else None
            if key_size is None:
                key_size = _key_size(key)
            item_kind = type(item)
            if item_kind is str:
                size += key_size + 2 + text_size(item)
            elif item_kind is int and -(10**18) < item < 10**18:
                size += key_size + 2 + len(str(item))
            elif item is None:
                size += key_size + 2 + 5
            else:
                size += key_size + 2 + json_size(item)
        return size
    if value is None or kind is bool:
        return 5
    return _any_json_size(value)


#: The sizes of the keys seen first (the same few keys recur in every event's data), at most this many.
KEY_SIZES_MAX = 512
_KEY_SIZES: dict[str, int] = {}


def _key_size(key: object) -> int:
    size = text_size(key) if type(key) is str else text_size(str(key))
    if type(key) is str and len(_KEY_SIZES) < KEY_SIZES_MAX:
        _KEY_SIZES[key] = size
    return size


def _any_json_size(value: Any) -> int:
    """:func:`json_size` by the general rules (subclasses, other mappings and sequences)."""
    if isinstance(value, str):
        return text_size(value)
    if value is None or isinstance(value, bool):
        return 5
    if isinstance(value, int):
        # Digits of |value| are at most bit_length * log10(2) + 1; one more for a sign.
        return len(str(value)) if -(10**18) < value < 10**18 else value.bit_length() * 3 // 10 + 2
    if isinstance(value, float):
        return 24
    if isinstance(value, Mapping):
        return 2 + sum(text_size(str(key)) + 2 + json_size(item) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return 2 + sum(json_size(item) + 1 for item in value)
    return 64


def fit_to_bytes(sizes: Iterable[int], max_bytes: int) -> int:
    """How many of the leading items whose JSON sizes are ``sizes`` fit in ``max_bytes``.

    At least one whenever there is one: a single item larger than the bound
    is still served alone, or no page could move past it. Each item counts
    one byte more for the comma between items.
    """
    total = 0
    count = 0
    for size in sizes:
        total += size + 1
        if total > max_bytes and count:
            break
        count += 1
    return count
