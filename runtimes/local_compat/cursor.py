"""Opaque worker-list cursors: a position in worker-id order.

A cursor means "the workers whose id sorts after K". Pages are cut between
the last pod entry examined and the next one, and K is the *shortest* string
that sorts between them (usually a prefix of the next id, often one letter).
So a cursor never spells out the id of an entry the page did not show — an
entry of another workspace, say — and it survives entries being added or
removed between pages.

The text a client sees is ``base64url("lc1:" + K)``; anything else is
rejected, and the client's value is never echoed back.
"""

from __future__ import annotations

import base64
import binascii
import re

from registry_core.errors import InvalidCursor

__all__ = ["encode_cursor", "decode_cursor", "separator_between", "CURSOR_MAX_CHARS"]

#: The longest cursor text accepted (issued cursors are far shorter).
CURSOR_MAX_CHARS = 256

_MAGIC = "lc1:"
_POSITION = re.compile(r"[A-Za-z0-9_-]{1,120}")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


def separator_between(last: str, following: str) -> str:
    """The shortest K with ``last <= K < following`` (``last < following`` is required)."""
    for length in range(1, len(following)):
        candidate = following[:length]
        if candidate >= last:
            return candidate
    return last


def encode_cursor(position: str) -> str:
    """The opaque text of the cursor "after ``position``"."""
    raw = (_MAGIC + position).encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The position a cursor text stands for; ``InvalidCursor`` if this runtime did not issue it."""
    if isinstance(cursor, str) and 0 < len(cursor) <= CURSOR_MAX_CHARS and _BASE64URL.fullmatch(cursor):
        try:
            text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            text = ""
        if text.startswith(_MAGIC) and _POSITION.fullmatch(text[len(_MAGIC) :]):
            return text[len(_MAGIC) :]
    raise InvalidCursor(
        "cursor is not one this runtime issued; start again without a cursor",
        details=({"path": "cursor", "message": "not a cursor issued by this runtime"},),
    )
