"""The identifier rules every runtime id and worker id obeys.

Ids are checked here, before any provider sees them, so a plugin never has
to defend itself against path traversal or control characters in an id.
"""

from __future__ import annotations

from registry_core.constraints import ID_PATTERN
from registry_core.errors import InvalidIdentifier

__all__ = ["IDENTIFIER_MAX_LENGTH", "is_valid_identifier", "validate_identifier"]

#: The longest id the registry accepts.
IDENTIFIER_MAX_LENGTH = 120

# The one statement of the rule (constraints.ID_PATTERN): request models and
# the OpenAPI document's path parameters use the same object.
_search = ID_PATTERN.compiled.search

# Ids found valid lately. A request names the same ids as many before it (its
# runtime, its worker), and each is checked two or three times on its way (the
# route, the registry): a set lookup costs a tenth of the rule's regular
# expression (decision 0263). Emptied when full, so a client naming ever-new
# ids holds at most this many strings here.
_KNOWN_VALID: set[str] = set()
_KNOWN_VALID_MAX = 8192


def is_valid_identifier(value: object) -> bool:
    """Return whether ``value`` is 1–120 ASCII letters, digits, ``-``, ``_`` or ``:``."""
    # A str exactly: a subclass could hash or compare as another string does.
    if type(value) is str and value in _KNOWN_VALID:
        return True
    if not isinstance(value, str) or _search(value) is None:
        return False
    if type(value) is str:
        if len(_KNOWN_VALID) >= _KNOWN_VALID_MAX:
            _KNOWN_VALID.clear()
        _KNOWN_VALID.add(value)
    return True


def validate_identifier(value: object, *, field: str) -> str:
    """Return ``value`` if it is a valid id, else raise :class:`InvalidIdentifier`.

    :param field: what the id is (``"runtime_id"`` or ``"worker_id"``), named
        in the error. The offending value itself is never echoed back: it may
        be arbitrarily long or contain anything.
    """
    if (type(value) is str and value in _KNOWN_VALID) or is_valid_identifier(value):
        return value  # type: ignore[return-value]
    raise InvalidIdentifier(
        f"{field} must be 1-{IDENTIFIER_MAX_LENGTH} characters of ASCII letters, digits, '-', '_' or ':'",
        details=({"path": field, "message": "not a valid identifier"},),
    )
