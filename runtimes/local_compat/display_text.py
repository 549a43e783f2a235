"""Untrusted text made fit for display: labels and role/profile hints.

Worker names and manifest hints come from files anyone on the machine may
have written. Before they reach a client they lose control and format
characters (which can hide or reorder text in a terminal or browser), path
separators, and everything past a bounded length.
"""

from __future__ import annotations

import unicodedata

__all__ = ["DISPLAY_MAX_CHARS", "display_text", "looks_like_a_path"]

#: The longest label or hint shown.
DISPLAY_MAX_CHARS = 80

# Cc control, Cf format (bidi overrides, zero-width), Cs lone surrogates
# (non-UTF-8 bytes decoded with surrogateescape), Co private use, Cn unassigned,
# Zl/Zp line and paragraph separators.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_SEPARATORS = frozenset("/\\")
# Looking at more than this many characters of a huge value is wasted work.
_SCAN_MAX_CHARS = 4 * DISPLAY_MAX_CHARS


def display_text(value: str, max_chars: int = DISPLAY_MAX_CHARS) -> str | None:
    """``value`` without control/format characters or path separators, at most ``max_chars``.

    Surrounding whitespace is trimmed; a value cut short ends with ``…``.
    Returns ``None`` when nothing displayable is left.
    """
    kept: list[str] = []
    for char in value[:_SCAN_MAX_CHARS]:
        if char in _SEPARATORS or unicodedata.category(char) in _DROPPED_CATEGORIES:
            continue
        kept.append(char)
    text = "".join(kept).strip()
    if text and (len(text) > max_chars or len(value) > _SCAN_MAX_CHARS):
        text = text[: max_chars - 1].rstrip() + "…"
    return text or None


def looks_like_a_path(value: str) -> bool:
    """Whether a hint looks like a file-system location (it is then withheld, not mangled)."""
    return "/" in value or "\\" in value or value.startswith("~") or "file:" in value.lower()
