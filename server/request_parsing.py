"""Reading what a client sent: a JSON object body, and integer or opaque query parameters.

Everything here raises typed errors: a body that is not a JSON object, or a
query parameter that is not what the route takes, is ``400 malformed_request``
naming the parameter; a body that is JSON of the wrong shape is left to
:func:`registry_core.converter.structure` (``422 invalid_request``).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from starlette.datastructures import QueryParams
from starlette.requests import ClientDisconnect, Request

from registry_core.converter import structure
from registry_core.errors import InvalidRequest, LimitTooLarge
from registry_core.models import InputKind, InputRequest, WorkerFilter
from runtime_registry.server.errors import MalformedRequest, UnsupportedMediaType

__all__ = [
    "read_model",
    "read_json_object",
    "read_body",
    "json_object",
    "model_of",
    "integer_parameter",
    "parse_integer",
    "opaque_parameter",
    "refuse_unknown_parameters",
    "worker_filter_parameter",
    "FILTER_VALUES_MAX",
    "INTEGER_PARAMETER_MAX",
    "OPAQUE_PARAMETER_MAX",
]

T = TypeVar("T")

#: The longest opaque cursor accepted; runtimes issue far shorter ones.
OPAQUE_PARAMETER_MAX = 512
#: The largest integer a query parameter (or Last-Event-ID) may spell: 18 digits.
INTEGER_PARAMETER_MAX = 10**18 - 1
_INTEGER_DIGITS_MAX = len(str(INTEGER_PARAMETER_MAX))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# Built once: json.loads with any keyword argument builds a new decoder per call.
_decode = json.JSONDecoder(parse_constant=_refuse_constant).decode


# The decoder's C scanner: a body with no whitespace around its object is scanned
# directly, without decode()'s two whitespace matches and two Python frames.
_scan = json.JSONDecoder(parse_constant=_refuse_constant).scan_once  # type: ignore[attr-defined]


async def read_json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object. An empty body is ``{}`` (every POST body here has optional fields
    or names what is missing in a 422); a non-empty one must be ``application/json``."""
    return json_object(await read_body(request), request.scope["headers"])


def json_object(body: bytes, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """A body already read (:func:`read_body`) as :func:`read_json_object` reads it; ``headers`` are the request's."""
    if not body.strip():
        return {}
    if not _is_json_media_type(_content_type(headers)):
        raise UnsupportedMediaType("send the body as JSON, with 'Content-Type: application/json'")
    try:
        # JSON exchanged between systems is UTF-8 (RFC 8259 section 8.1).
        text = body.decode("utf-8")
        if text[:1] == "{" and text[-1:] == "}":
            data, end = _scan(text, 0)
            if end != len(text):
                raise ValueError("extra data")
        else:
            data = _decode(text)
    except (ValueError, UnicodeDecodeError, RecursionError, StopIteration):
        raise MalformedRequest("the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise MalformedRequest("the request body must be a JSON object")
    return data


async def read_model(request: Request, model: type[T]) -> T:
    """The body structured into ``model``: 400 if it is not a JSON object, 422 naming each bad field."""
    return model_of(json_object(await read_body(request), request.scope["headers"]), model)


def model_of(data: dict[str, Any], model: type[T]) -> T:
    """A body's JSON object (:func:`json_object`) structured into ``model``, as :func:`read_model` does."""
    shortcut = _SHORTCUTS.get(model)
    if shortcut is not None:
        value: T | None = shortcut(data)
        if value is not None:
            return value
    structured: T = structure(data, model)
    return structured


# -- shortcuts past the converter -------------------------------------------
#
# ``structure`` (cattrs with strict hooks) is the definition of what a body
# may hold, and the only place that says what is wrong with one. Its generic
# dispatch costs twice the shortcut's time for the two-field body of a
# send-input, the busiest write route (docs/performance.md). A
# shortcut takes only bodies the converter would accept as they are and
# returns ``None`` for anything else, which then goes to the converter; a
# property test checks that the two agree.

_INPUT_FIELDS = frozenset({"content", "kind"})
_INPUT_KINDS = {kind.value: kind for kind in InputKind}
# Read once: an enum member's ``.value`` is a property of two Python calls.
_USER_KIND: str = InputKind.USER.value


def _input_request(data: dict[str, Any]) -> InputRequest | None:
    """Known keys, ASCII content that is not blank (ASCII holds no lone surrogate), a known kind."""
    if not data.keys() <= _INPUT_FIELDS:
        return None
    content, kind = data.get("content"), data.get("kind", _USER_KIND)
    if type(content) is not str or not content.isascii() or not content.strip() or type(kind) is not str:
        return None
    member = _INPUT_KINDS.get(kind)
    return None if member is None else InputRequest(content, member)


_SHORTCUTS: dict[type, Callable[[dict[str, Any]], Any]] = {InputRequest: _input_request}


async def read_body(request: Request) -> bytes:
    """The whole body, read as ``Request.body()`` reads it (``ClientDisconnect`` if the client left),
    without its async generator: most bodies come in one message. Nothing else reads the body."""
    receive = request.receive
    chunks: list[bytes] = []
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "http.request":
            body: bytes = message.get("body", b"")
            if not message.get("more_body", False):
                if not chunks:
                    return body
                chunks.append(body)
                return b"".join(chunks)
            chunks.append(body)
        elif kind == "http.disconnect":
            raise ClientDisconnect()


def _content_type(headers: list[tuple[bytes, bytes]]) -> str:
    """The first ``Content-Type`` of the raw ASGI headers (names are lower case), as ``Headers.get`` finds it."""
    for name, value in headers:
        if name == b"content-type":
            return value.decode("latin-1")
    return ""


#: Content types most clients send, known to be JSON without parsing them.
_JSON_TYPES = frozenset({"application/json", "application/json; charset=utf-8", "application/json;charset=utf-8"})


def _is_json_media_type(content_type: str) -> bool:
    if content_type in _JSON_TYPES:
        return True
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def integer_parameter(query: QueryParams, name: str, *, minimum: int) -> int | None:
    """The query parameter ``name`` as an integer of at least ``minimum``; ``None`` when absent."""
    raw = query.get(name)
    if raw is None:
        return None
    return parse_integer(raw, name, minimum=minimum)


def parse_integer(raw: str, name: str, *, minimum: int) -> int:
    """``raw`` as a plain decimal integer of at least ``minimum``, or ``MalformedRequest`` naming ``name``.

    Only ASCII digits: ``int()`` alone would take ``" 1"``, ``"+1"`` and ``"1_0"``.
    A ``limit`` of more than 18 digits is a number, just too large: ``limit_too_large``
    (no page is that long), without converting it (``int()`` of 5,000 digits is slow).
    """
    if raw.isascii() and raw.isdigit():
        if len(raw) <= _INTEGER_DIGITS_MAX or len(raw.lstrip("0")) <= _INTEGER_DIGITS_MAX:
            value = int(raw)
            if value >= minimum:
                return value
        elif name == "limit":
            message = f"must be at most {INTEGER_PARAMETER_MAX}"
            raise LimitTooLarge(f"{name} is too large", details=({"path": name, "message": message},))
    message = f"must be an integer of at least {minimum}"
    raise MalformedRequest(f"{name} {message}", details=({"path": name, "message": message},))


def opaque_parameter(query: QueryParams, name: str) -> str | None:
    """The query parameter ``name`` as an opaque token (a cursor); ``None`` when absent."""
    raw = query.get(name)
    if raw is None:
        return None
    if not raw or len(raw) > OPAQUE_PARAMETER_MAX or not raw.isprintable():
        message = "is not a cursor this server issued"
        raise MalformedRequest(f"{name} {message}", details=({"path": name, "message": message},))
    return raw


def choice_parameter(query: QueryParams, name: str, choices: Collection[str]) -> str | None:
    """The query parameter ``name`` as one of ``choices``; ``None`` when absent; else ``MalformedRequest`` naming it."""
    raw = query.get(name)
    if raw is None:
        return None
    if raw not in choices:
        message = f"must be one of {', '.join(choices)}"
        raise MalformedRequest(f"{name} {message}", details=({"path": name, "message": message},))
    return raw


#: How many values one repeatable filter parameter (``?label=a&label=b``) may have.
FILTER_VALUES_MAX = 20


def worker_filter_parameter(query: QueryParams, name: str) -> tuple[str, ...]:
    """The values of the repeatable worker-list filter ``name``, each checked by its
    :class:`~registry_core.models.WorkerFilter` rule; ``()`` when absent.

    A value that breaks the rule (empty, too long, a control character, a
    profile or status that is no id) is ``400 malformed_request`` naming the
    parameter: a filter that cannot match anything is a mistake, never an
    empty list.
    """
    values = query.getlist(name)
    if not values:
        return ()
    if len(values) > FILTER_VALUES_MAX:
        message = f"may be given at most {FILTER_VALUES_MAX} times"
        raise MalformedRequest(f"{name} {message}", details=({"path": name, "message": message},))
    try:
        structure({name: values}, WorkerFilter)
    except InvalidRequest as exc:
        first = exc.details[0]["message"] if exc.details else "is not a valid value"
        message = f"{first} (each value of {name})"
        raise MalformedRequest(f"{name} {message}", details=({"path": name, "message": message},)) from None
    return tuple(values)


def refuse_unknown_parameters(query: QueryParams, known: Collection[str]) -> None:
    """``MalformedRequest`` naming the first query parameter the route does not take.

    A mistyped name (``?limt=1``) would otherwise be ignored and the client
    would read a default page as if it were the one it asked for.
    """
    for name in query:
        if name in known:
            continue
        if not known:
            message = "this route takes no query parameters"
        else:
            message = f"this route takes: {', '.join(sorted(known))}"
            closest = difflib.get_close_matches(name, known, n=1)
            if closest:
                message = f"did you mean '{closest[0]}'? {message}"
        shown = name if name.isprintable() and len(name) <= 64 else "(a name)"
        raise MalformedRequest(
            f"unknown query parameter '{shown}': {message}", details=({"path": shown, "message": message},)
        )
