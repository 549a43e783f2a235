"""The path-leak detector: :func:`find_path_like` finds strings that look like paths, sockets or file URLs.

The conformance suite scans everything a provider returns with it, and the
project's own leak-scan tests scan every HTTP answer and event with it. It
imports nothing but :mod:`re`, so a test can use it without loading the suite.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["PATH_LIKE", "find_path_like"]

#: Absolute POSIX paths (two segments or more), home-relative paths, Windows
#: drive and UNC paths, socket files and file URLs. A path must start a word
#: (after a space, quote, ``=`` or ``(``) so that ``1/2 done`` and ``and/or`` pass.
PATH_LIKE = re.compile(r"(?:^|[\s\"'=(])(?:/[^\s/]+/[^\s]*|~/\S*|[A-Za-z]:\\\S*|\\\\[^\s\\]+\\)|\.sock\b|file://")


def find_path_like(data: Any) -> list[str]:
    """Every string inside ``data`` (JSON-like: dicts, lists, tuples, strings) that looks like a path or socket.

    Dictionary keys are searched as well as values. The strings are returned
    whole, in the order met, so a failure message can show what leaked.
    """
    found: list[str] = []

    def visit(value: Any) -> None:
        if isinstance(value, str):
            if PATH_LIKE.search(value):
                found.append(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                visit(key)
                visit(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item)

    visit(data)
    return found
