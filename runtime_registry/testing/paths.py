"""The path-leak detector: :func:`find_path_like` finds strings that look like paths, sockets or file URLs.

The conformance suite scans everything a provider returns with it, and the
project's own leak-scan tests scan every HTTP answer and event with it. It
imports nothing but the standard library, so a test can use it without loading the suite.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["PATH_LIKE", "find_path_like"]

#: Absolute POSIX paths (two segments or more), home-relative paths, Windows
#: drive and UNC paths, socket files and file URLs. A path must start a word
#: (after a space, quote, ``=`` or ``(``) so that ``1/2 done`` and ``and/or`` pass.
PATH_LIKE = re.compile(r"(?:^|[\s\"'=(])(?:/[^\s/]+/[^\s]*|~/\S*|[A-Za-z]:\\\S*|\\\\[^\s\\]+\\)|\.sock\b|file://")


def find_path_like(data: Any, *, sent: Iterable[str] = ()) -> list[str]:
    """Every string inside ``data`` (JSON-like: dicts, lists, tuples, strings) that looks like a path or socket.

    Dictionary keys are searched as well as values. The strings are returned
    whole, in the order met, so a failure message can show what leaked.

    :param sent: texts the client itself sent (inputs, labels). A kind that
        echoes them has leaked nothing of its own, so every occurrence of one
        is taken out of a string before it is searched: a reply quoting the
        client's ``/home/me/notes.txt`` passes, a path next to it does not.
    """
    found: list[str] = []
    quoted = sorted({text for text in sent if text}, key=len, reverse=True)  # longest first: no partial removal

    def visit(value: Any) -> None:
        if isinstance(value, str):
            searched = value
            for text in quoted:
                searched = searched.replace(text, " ")
            if PATH_LIKE.search(searched):
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
