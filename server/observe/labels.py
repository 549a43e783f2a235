"""Label values a metric may carry: bounded, never an id or anything a client wrote.

A label value is either one of a fixed set the server defines (ends, methods,
route templates), a name from the operator's configuration (runtime ids,
profiles), or a kind's own code (a failure code, a worker status). The last
two are trusted to be few, but not blindly: :class:`BoundedValues` keeps at
most ``limit`` distinct values per family and folds the rest into
``"other"``, and a value that is not a short name is ``"other"``
from the start — so no kind, and no client through a kind, can grow a family
without bound.
"""

from __future__ import annotations

import re

__all__ = ["BoundedValues", "OTHER"]

#: What a value outside the bound is counted as.
OTHER = "other"

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_:.-]{0,63}")


class BoundedValues:
    """At most ``limit`` distinct label values; the first ones seen are kept.

    :param limit: how many distinct values pass before the rest are ``"other"``.
    """

    __slots__ = ("_limit", "_seen")

    def __init__(self, limit: int = 50) -> None:
        self._limit = limit
        self._seen: set[str] = set()

    def __call__(self, value: str | None) -> str:
        """``value`` as a label value: itself, ``""`` for ``None``, or ``"other"``."""
        if value is None:
            return ""
        if value in self._seen:
            return value
        if not _NAME.fullmatch(value) or len(self._seen) >= self._limit:
            return OTHER
        self._seen.add(value)
        return value
