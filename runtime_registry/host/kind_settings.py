"""What a runtime kind's ``settings`` table takes, derived from its settings class.

The listing (``runtime-registry plugins --json``, ``GET /api/plugins``) and the
typo suggestions of ``check-config`` both read the settings class itself, so
they cannot drift from what the converter accepts: each key is an attrs field,
its type and range come from the annotation (``Annotated[int, Ge(1)]`` is
``int (>= 1)``), and its one-line doc from the class docstring's
``:param name:`` or ``:ivar name:``.
"""

from __future__ import annotations

import difflib
import enum
import re
import types
import typing
from collections.abc import Iterable
from typing import Any

import annotated_types
import attrs

from registry_core.models import SettingInfo

__all__ = ["closest_key", "describe_settings"]

_FIELD_DOC = re.compile(r"^\s*:(?:param|ivar)\s+(\w+):\s*(.*?)(?=^\s*:\w|\Z)", re.M | re.S)
# What can end a clause, and the parentheses that keep one going.
_CLAUSE_MARKS = re.compile(r"[()]|[.;](?= |$)")
# Annotated-types constraints, as the words of a range.
_BOUNDS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))


def describe_settings(settings_type: type) -> tuple[SettingInfo, ...]:
    """Every key of ``settings_type`` (an attrs class), in declaration order.

    A class that is not an attrs class has no listable keys: ``()``.
    """
    if not attrs.has(settings_type):
        return ()
    try:
        hints = typing.get_type_hints(settings_type, include_extras=True)
    except Exception:  # an annotation that names something unimportable: list names only
        hints = {}
    docs = _field_docs(settings_type.__doc__ or "")
    infos = []
    for field in attrs.fields(settings_type):
        name = field.alias or field.name
        default = field.default
        required = default is attrs.NOTHING
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory() if not default.takes_self else None
        infos.append(
            SettingInfo(
                name=name,
                type=_type_text(hints.get(field.name, field.type)),
                required=required,
                default=None if required else _json_value(default),
                doc=docs.get(field.name),
            )
        )
    return tuple(infos)


def closest_key(key: str, keys: Iterable[str]) -> str | None:
    """The key of ``keys`` closest to a mistyped ``key`` (difflib's ratio of at least 0.6), if any."""
    matches = difflib.get_close_matches(key, list(keys), n=1)
    return matches[0] if matches else None


def _field_docs(docstring: str) -> dict[str, str]:
    """``:param name: text`` of a docstring, reduced to its first sentence on one line."""
    docs = {}
    for match in _FIELD_DOC.finditer(docstring):
        docs[match[1]] = _first_clause(" ".join(match[2].split()).replace("``", "`"))
    return docs


def _first_clause(text: str) -> str:
    """Up to the first ``.`` or ``;`` that ends a clause outside parentheses."""
    depth = 0
    for match in _CLAUSE_MARKS.finditer(text):
        mark = match[0]
        if mark == "(":
            depth += 1
        elif mark == ")":
            depth -= 1
        elif depth <= 0:
            return text[: match.start()]
    return text


def _type_text(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *extras = typing.get_args(annotation)
        bounds = [text for extra in extras for text in _constraint_text(extra)]
        return f"{_type_text(base)} ({', '.join(bounds)})" if bounds else _type_text(base)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_text(arg) for arg in typing.get_args(annotation))
    if annotation is type(None):
        return "None"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " | ".join(repr(member.value) for member in annotation)
    if origin is not None:
        args = ", ".join("..." if arg is Ellipsis else _type_text(arg) for arg in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation)


def _constraint_text(constraint: Any) -> list[str]:
    if isinstance(constraint, annotated_types.Interval):
        return [
            f"{word} {getattr(constraint, attr)}" for attr, word in _BOUNDS if getattr(constraint, attr) is not None
        ]
    for attr, word in _BOUNDS:
        if type(constraint).__name__.lower() == attr:
            return [f"{word} {getattr(constraint, attr)}"]
    if isinstance(constraint, annotated_types.MinLen):
        return [f"length >= {constraint.min_length}"]
    if isinstance(constraint, annotated_types.MaxLen):
        return [f"length <= {constraint.max_length}"]
    return []


def _json_value(value: Any) -> Any:
    """A default as JSON: enums by value, attrs instances and tuples converted; anything else as text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return _json_value(value.value)
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json_value(item) for key, item in value.items()}
    if attrs.has(type(value)):
        return {field.name: _json_value(getattr(value, field.name)) for field in attrs.fields(type(value))}
    return str(value)
