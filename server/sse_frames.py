"""Events as Server-Sent Events frames, rendered straight to bytes.

A frame is ``id:`` (stored events only), ``event:`` and ``data:`` lines and a
blank line, with LF line ends — byte for byte what sse-starlette's
``ServerSentEvent.encode`` writes for the same fields
(tests/server/test_sse_frames.py holds the two together). Built here with one
format string instead of sse-starlette's line splitting and ``StringIO``: the
event stream renders every event it sends, and a busy runtime sends thousands
a second (docs/performance.md, "Fan-out").

The JSON is compact, so it never holds a line break (the encoder escapes
control characters in strings): one ``data:`` line always suffices. An event
type holding a CR or LF (a provider's free-form string) is left to
sse-starlette, which strips them.
"""

from __future__ import annotations

import collections
import logging
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any

from registry_core.errors import RuntimeUnavailable
from registry_core.models import Event
from runtime_registry.server.serialization import encode_json, to_json_data

__all__ = ["SEPARATOR", "render_frame", "stored_frame"]

#: The JSON string of a str, escaped as ``encode_json`` escapes it (``ensure_ascii=False``).
_string = encode_basestring

log = logging.getLogger("runtime_registry.server.event_stream")

#: Plain LF line ends (the spec allows LF, CRLF or CR): readable in curl and easy to parse.
SEPARATOR = "\n"


def _timestamp(value: datetime) -> str:
    # The converter's text (milliseconds, "Z"), without its generic path; a
    # live event's timestamp is new every time, so no cache would hit.
    if value.tzinfo is UTC:
        return value.isoformat(timespec="milliseconds")[:-6] + "Z"
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


def _flat(data: Any) -> str | None:
    """A flat mapping of strings to strings, ints, ``None`` and bools as JSON; ``None`` for anything else.

    A streamed delta's ``{"turn": 3, "text": "..."}`` is the common case;
    written by hand with the encoder's own string escaping it costs a third of
    a ``JSONEncoder.encode`` of the whole event (docs/performance.md, "Fan-out").
    """
    if type(data) is not dict:
        return None
    parts = []
    for key, value in data.items():
        kind = type(value)
        if kind is str:
            text = _string(value)
        elif kind is int:
            text = int.__repr__(value)
        elif value is None:
            text = "null"
        elif kind is bool:
            text = "true" if value else "false"
        else:
            return None  # floats (NaN is refused), nested values: the converter and encoder decide
        if type(key) is not str:
            return None
        parts.append(f"{_string(key)}:{text}")
    return "{" + ",".join(parts) + "}"


_WORKER_IDS = (str, type(None))


def _json(event: Event) -> str:
    data = _flat(event.data)
    if data is not None and type(event.id) is int and type(event.type) is str and type(event.worker_id) in _WORKER_IDS:
        worker = "null" if event.worker_id is None else _string(event.worker_id)
        return (
            f'{{"id":{event.id},"type":{_string(event.type)},"worker_id":{worker},'
            f'"data":{data},"created_at":"{_timestamp(event.created_at)}"}}'
        )
    return encode_json(to_json_data(event))


def render_frame(event: Event, runtime_id: str, *, stored: bool = True) -> bytes:
    """``event`` as one SSE frame; a live event (``stored=False``) has no ``id:`` line.

    A live event's id is the stored event it follows, and a client's
    ``Last-Event-ID`` must only ever name stored events (decision 0091).

    :raises RuntimeUnavailable: the event's data cannot be JSON (the runtime's fault).
    """
    try:
        text = _json(event)
    except Exception:
        # Event data is the provider's free-form mapping: a value that cannot
        # become JSON is the runtime's fault, reported like any runtime failure.
        log.exception("runtime %r returned an event that cannot be rendered as JSON", runtime_id)
        raise RuntimeUnavailable("the runtime returned malformed data", runtime_id=runtime_id) from None
    kind = event.type
    if "\n" in kind or "\r" in kind:
        return _sse_encode(text, event, stored)
    if stored:
        return f"id: {event.id}\nevent: {kind}\ndata: {text}\n\n".encode()
    return f"event: {kind}\ndata: {text}\n\n".encode()


#: Rendered stored frames kept, so that N streams sending the same event render it once.
FRAME_CACHE_SIZE = 4096
_FRAMES: collections.OrderedDict[int, tuple[Event, bytes]] = collections.OrderedDict()


def stored_frame(event: Event, runtime_id: str) -> bytes:
    """The stored event's frame, rendered once however many streams send it."""
    cached = _FRAMES.get(id(event))
    if cached is not None and cached[0] is event:
        return cached[1]
    frame = render_frame(event, runtime_id)
    # Keyed by identity and holding the event itself, so a key can never
    # name another object; the oldest frames go first.
    _FRAMES[id(event)] = (event, frame)
    if len(_FRAMES) > FRAME_CACHE_SIZE:
        _FRAMES.popitem(last=False)
    return frame


def _sse_encode(text: str, event: Event, stored: bool) -> bytes:
    from sse_starlette import ServerSentEvent

    frame: Any = ServerSentEvent(text, id=str(event.id) if stored else None, event=event.type, sep=SEPARATOR)
    return bytes(frame.encode())
