"""The one cattrs converter for JSON in and out, and field-path validation errors.

``structure(data, cls)`` is what the server and the config loader call: it
turns any structuring failure into :class:`~registry_core.errors.InvalidRequest`
whose ``details`` name each bad field by path (``intent.kind``,
``capabilities[0]``, ``runtimes[1].settings.max_workers``).

Primitives are strict: JSON ``1`` is not a string, ``"1"`` is not an int and
``true`` is not an int. Unknown keys are refused, so a typo is an error and not
a silently ignored field.
"""

from __future__ import annotations

import enum
import itertools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar, get_args, get_origin

import annotated_types
import attrs
import cattrs
from cattrs._compat import is_annotated, is_mapping, is_sequence
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn

from registry_core.constraints import Pattern
from registry_core.errors import InvalidRequest
from registry_core.models import RuntimeStatus

__all__ = ["converter", "structure", "unstructure", "format_timestamp", "FieldProblem", "DETAILS_MAX"]

T = TypeVar("T")

#: One problem with one field: ``{"path": ..., "message": ...}``.
FieldProblem = dict[str, str]

_MESSAGE_MAX = 160
#: The most problems one :class:`InvalidRequest` from :func:`structure` lists in ``details``.
DETAILS_MAX = 20


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, millisecond precision: ``2026-11-24T02:30:00.123Z``."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


# JSON's "\ud800" escapes decode to lone surrogates, which no response can
# encode as UTF-8: accepted once, such a string would make every later page
# that shows it a 500. So a string must be Unicode scalar values only.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _strict_str(value: Any, _type: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("must be a string")
    if _SURROGATE.search(value):
        raise ValueError("must be valid Unicode text (it holds an unpaired surrogate escape)")
    return value


def _strict_int(value: Any, _type: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("must be an integer")
    return value


def _strict_float(value: Any, _type: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("must be a number")
    return float(value)


def _strict_number(value: Any, _type: Any) -> int | float:
    """``int | float``: a JSON number keeps its kind (``1`` stays an int, ``1.5`` a float)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("must be a number")
    return value


def _strict_bool(value: Any, _type: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("must be true or false")
    return value


def _structure_datetime(value: Any, _type: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    text = _strict_str(value, _type)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("must be an ISO 8601 timestamp") from None


def _strict_enum(value: Any, type_: type[enum.Enum]) -> enum.Enum:
    try:
        return type_(value)
    except ValueError:
        allowed = ", ".join(repr(member.value) for member in type_)
        raise ValueError(f"must be one of {allowed}") from None


def _sequence_hook(conv: cattrs.Converter, type_: Any) -> Callable[[Any, Any], Any]:
    """Structure a JSON array into a tuple or list, element errors carrying their index.

    cattrs' own hook takes any iterable, so ``"tools"`` would become
    ``('t', 'o', 'o', 'l', 's')``; here only arrays are sequences.
    """
    args = get_args(type_)
    element = args[0] if args else Any
    if element is Any:
        return lambda value, _t: _require(value, (list, tuple), "must be an array")
    make = tuple if get_origin(type_) in (tuple, Sequence) or type_ is tuple else list

    def structure_sequence(value: Any, _type: Any) -> Any:
        _require(value, (list, tuple), "must be an array")
        items, errors = [], []
        for index, item in enumerate(value):
            try:
                items.append(conv.structure(item, element))
            except Exception as exc:
                exc.__notes__ = [
                    *getattr(exc, "__notes__", []),
                    IterableValidationNote(f"@ index {index}", index, element),
                ]
                errors.append(exc)
        if errors:
            raise IterableValidationError("While structuring an array", errors, type_)
        return make(items)

    return structure_sequence


def _mapping_hook(conv: cattrs.Converter, type_: Any) -> Callable[[Any, Any], Any]:
    """Structure a JSON object with string keys, value errors carrying their key."""
    args = get_args(type_)
    value_type = args[1] if len(args) == 2 else Any

    def structure_mapping(value: Any, _type: Any) -> Any:
        _require(value, Mapping, "must be an object")
        if value_type is Any:
            return dict(value)
        items, errors = {}, []
        for key, item in value.items():
            try:
                items[_strict_str(key, str)] = conv.structure(item, value_type)
            except Exception as exc:
                exc.__notes__ = [
                    *getattr(exc, "__notes__", []),
                    AttributeValidationNote(f"@ key {key}", str(key), value_type),
                ]
                errors.append(exc)
        if errors:
            raise ClassValidationError("While structuring an object", errors, type_)
        return items

    return structure_mapping


def _annotated_hook(conv: cattrs.Converter, type_: Any) -> Callable[[Any, Any], Any]:
    """Structure ``Annotated[T, *constraints]``: T's hook, then each annotated-types constraint.

    This is how settings classes declare ranges (``Annotated[int, Ge(1)]``) and
    get errors that name the field, without depending on this package.
    """
    base, *metadata = get_args(type_)
    checks = [check for item in metadata if (check := _constraint_check(item)) is not None]

    def structure_annotated(value: Any, _type: Any) -> Any:
        result = conv.structure(value, base)
        for check in checks:
            check(result)
        return result

    return structure_annotated


def _constraint_check(constraint: Any) -> Callable[[Any], None] | None:
    comparisons = (
        (annotated_types.Ge, "ge", lambda v, b: v >= b, "at least"),
        (annotated_types.Gt, "gt", lambda v, b: v > b, "greater than"),
        (annotated_types.Le, "le", lambda v, b: v <= b, "at most"),
        (annotated_types.Lt, "lt", lambda v, b: v < b, "less than"),
    )
    for kind, attribute, holds, words in comparisons:
        if isinstance(constraint, kind):
            bound = getattr(constraint, attribute)

            def check(value: Any, bound: Any = bound, holds: Any = holds, words: str = words) -> None:
                if not holds(value, bound):
                    raise ValueError(f"must be {words} {bound}")

            return check
    if isinstance(constraint, annotated_types.GroupedMetadata):  # Interval, Len: their single bounds
        return _all_checks([_constraint_check(c) for c in constraint])
    if isinstance(constraint, (annotated_types.MinLen, annotated_types.MaxLen)):
        low = getattr(constraint, "min_length", 0)
        high = getattr(constraint, "max_length", None)

        def check_length(value: Any) -> None:
            unit = "characters" if isinstance(value, str) else "items"
            if len(value) < low:
                raise ValueError(f"must have at least {low} {unit}" if low > 1 else "must not be empty")
            if high is not None and len(value) > high:
                raise ValueError(
                    f"must be at most {high} {unit}" if unit == "characters" else f"must have at most {high} items"
                )

        return check_length
    if isinstance(constraint, Pattern):

        def check_pattern(value: Any) -> None:
            if not constraint.matches(value):
                raise ValueError(constraint.message)

        return check_pattern
    return None


def _all_checks(checks: list[Callable[[Any], None] | None]) -> Callable[[Any], None]:
    def check_all(value: Any) -> None:
        for check in checks:
            if check is not None:
                check(value)

    return check_all


def _require(value: Any, types: Any, message: str) -> Any:
    if not isinstance(value, types):
        raise TypeError(message)
    return value


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True)
    # Class hooks go through single dispatch: a ``str``-based enum would be
    # caught by the ``str`` hook, so each one (RuntimeStatus) is registered by
    # its own class below, which single dispatch prefers.
    conv.register_structure_hook(str, _strict_str)
    conv.register_structure_hook(int, _strict_int)
    conv.register_structure_hook(float, _strict_float)
    conv.register_structure_hook(bool, _strict_bool)
    conv.register_structure_hook(int | float, _strict_number)
    conv.register_structure_hook(enum.Enum, _strict_enum)
    conv.register_unstructure_hook(enum.Enum, lambda member: member.value)
    for str_enum in (RuntimeStatus,):
        conv.register_structure_hook(str_enum, _strict_enum)
        conv.register_unstructure_hook(str_enum, lambda member: member.value)
    conv.register_structure_hook(datetime, _structure_datetime)
    conv.register_unstructure_hook(datetime, format_timestamp)
    conv.register_structure_hook_factory(is_annotated, lambda t: _annotated_hook(conv, t))
    conv.register_structure_hook_factory(is_sequence, lambda t: _sequence_hook(conv, t))
    conv.register_structure_hook_factory(is_mapping, lambda t: _mapping_hook(conv, t))

    def attrs_hook_factory(cls: type) -> Callable[[Any, Any], Any]:
        generated: Callable[[Any, Any], Any] = make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=True)

        def structure_object(value: Any, type_: Any) -> Any:
            # Without this check a list where an object belongs fails with an
            # AttributeError deep inside the generated code.
            if not isinstance(value, Mapping):
                raise TypeError("must be an object")
            return generated(value, type_)

        return structure_object

    conv.register_structure_hook_factory(attrs.has, attrs_hook_factory)
    return conv


#: The converter. Register hooks for your own settings types on it if you need
#: to, before the registry is built.
converter: cattrs.Converter = _make_converter()


def unstructure(value: Any) -> Any:
    """Turn a model (or anything the converter knows) into JSON-ready data."""
    return converter.unstructure(value)


def structure(data: Any, cls: type[T], *, path: str = "") -> T:
    """Structure ``data`` into ``cls``, raising :class:`InvalidRequest` with field paths.

    :param path: a prefix for every reported path, e.g. ``runtimes[0].settings``.

    ``details`` lists at most :data:`DETAILS_MAX` problems, and the message
    says how many there are in all: a body of 120,000 unknown keys once made
    a 4.9 MB answer and took half a second of the event loop (issue 12).
    """
    try:
        return converter.structure(data, cls)
    except (ClassValidationError, IterableValidationError, InvalidRequest, ValueError, TypeError, KeyError) as exc:
        problems = list(itertools.islice(_walk(exc, path), DETAILS_MAX))
        summary = "; ".join(f"{p['path'] or '(body)'}: {p['message']}" for p in problems[:3])
        total = _count(exc)
        if total > len(problems):
            summary += f" ({total:,} problems in all; details lists the first {len(problems)})"
        raise InvalidRequest(f"invalid value: {summary}", details=problems) from None


def _join(path: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{path}[{name}]"
    return f"{path}.{name}" if path else name


def _walk(exc: BaseException, path: str) -> Iterator[dict[str, str]]:
    """Yield a ``{"path", "message"}`` for every leaf failure in a cattrs error tree."""
    if isinstance(exc, ForbiddenExtraKeysError):
        # All of them, sorted, when they fit in details; else any DETAILS_MAX
        # of them, sorted: choosing the smallest of 120,000 keys cost 80 ms.
        for key in sorted(map(str, itertools.islice(exc.extra_fields, DETAILS_MAX))):
            yield {"path": _join(path, _quotable_key(key)), "message": "unknown field"}
    elif isinstance(exc, ClassValidationError):
        located, unlocated = exc.group_exceptions()
        for sub, attribute_note in located:
            yield from _walk(sub, _join(path, attribute_note.name))
        for sub in unlocated:
            yield from _walk(sub, path)
    elif isinstance(exc, IterableValidationError):
        indexed, unindexed = exc.group_exceptions()
        for sub, index_note in indexed:
            yield from _walk(sub, _join(path, index_note.index))
        for sub in unindexed:
            yield from _walk(sub, path)
    elif isinstance(exc, InvalidRequest):
        for detail in exc.details or ({"path": "", "message": exc.message},):
            yield {"path": _join(path, detail["path"]) if detail["path"] else path, "message": detail["message"]}
    elif isinstance(exc, KeyError):
        yield {"path": path, "message": "required field is missing"}
    elif isinstance(exc, (ValueError, TypeError)):
        yield {"path": path, "message": _one_line(str(exc)) or "invalid value"}
    else:
        yield {"path": path, "message": "invalid value"}


def _count(exc: BaseException) -> int:
    """How many problems :func:`_walk` would yield, without building them."""
    if isinstance(exc, ForbiddenExtraKeysError):
        return len(exc.extra_fields)
    if isinstance(exc, (ClassValidationError, IterableValidationError)):
        return sum(_count(sub) for sub in exc.exceptions)
    if isinstance(exc, InvalidRequest):
        return max(1, len(exc.details or ()))
    return 1


def _quotable_key(key: str) -> str:
    """A client's unknown key, made safe to echo: unpaired surrogates escaped, length bounded."""
    if _SURROGATE.search(key):
        key = key.encode("utf-8", "backslashreplace").decode("utf-8")
    return key if len(key) <= _MESSAGE_MAX else key[: _MESSAGE_MAX - 3] + "..."


def _one_line(message: str) -> str:
    """Messages can quote the offending value: keep them to one short line."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    return first if len(first) <= _MESSAGE_MAX else first[: _MESSAGE_MAX - 3] + "..."
