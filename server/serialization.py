"""Models to JSON-ready data, fast, for the models every hot route returns.

:func:`registry_core.converter.unstructure` is the definition of the JSON
shape; this module renders the same shapes with plain attribute reads and
dict literals, which is several times faster than the converter's generic
dispatch (cattrs' optional-field handling and ``strftime`` dominated the
profile of a 50-worker page: docs/performance.md). Models without a fast
function here fall back to the converter, and a test checks that every fast
function's output equals the converter's.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from registry_core.converter import unstructure
from registry_core.models import (
    Diagnostic,
    Event,
    EventPage,
    InputAccepted,
    Intent,
    TranscriptEntry,
    TranscriptPage,
    Worker,
    WorkerActionResult,
    WorkerOverview,
    WorkerPage,
    WorkerTotals,
)

__all__ = ["to_json_data", "render_json", "encode_json", "FAST_TYPES", "FAST_TEXT_TYPES"]

#: The JSON encoder of every response: compact, UTF-8 as is, no NaN (it is not JSON). Built once.
encode_json: Callable[[Any], str] = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
# What that encoder writes for a str (``JSONEncoder.encode`` calls it for one), called directly.
_encode_string: Callable[[str], str] = json.encoder.encode_basestring

#: Rendered workers and transcript entries kept, keyed by the (frozen, hashable) model.
FRAGMENT_CACHE_SIZE = 4096
#: Transcript entries with longer content are rendered every time, so each of
#: the two caches holds at most FRAGMENT_CACHE_SIZE strings of a few kB: about
#: 10 MB in the worst case, typically well under 2 MB.
FRAGMENT_MAX_CONTENT = 2048


@functools.lru_cache(maxsize=8192)
def _timestamp(value: datetime) -> str:
    # The same text as registry_core.converter.format_timestamp, without
    # strftime; cached because the same worker's created_at is rendered on
    # every read of it.
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


def _diagnostics(diagnostics: tuple[Diagnostic, ...]) -> list[dict[str, Any]]:
    return [{"code": d.code, "severity": d.severity.value, "message": d.message} for d in diagnostics]


def _intent(intent: Intent | None) -> dict[str, Any] | None:
    if intent is None:
        return None
    return {"kind": intent.kind.value, "purpose": intent.purpose, "objective": intent.objective, "role": intent.role}


def _worker(w: Worker) -> dict[str, Any]:
    return {
        "runtime_id": w.runtime_id,
        "worker_id": w.worker_id,
        "kind": w.kind,
        "label": w.label,
        "status": w.status,
        "profile": w.profile,
        "intent": _intent(w.intent),
        "created_at": None if w.created_at is None else _timestamp(w.created_at),
        "transcript_length": w.transcript_length,
        "diagnostics": _diagnostics(w.diagnostics) if w.diagnostics else [],
        "totals": _totals(w.totals),
    }


def _totals(totals: WorkerTotals | None) -> dict[str, int] | None:
    if totals is None:
        return None
    return {"turns": totals.turns, "input_tokens": totals.input_tokens, "output_tokens": totals.output_tokens}


def _event(e: Event) -> dict[str, Any]:
    # ``data`` is free-form: the converter decides how its values render.
    return {
        "id": e.id,
        "type": e.type,
        "worker_id": e.worker_id,
        "data": unstructure(e.data),
        "created_at": _timestamp(e.created_at),
    }


def _event_page(page: EventPage) -> dict[str, Any]:
    return {
        "runtime_id": page.runtime_id,
        "events": [_event(e) for e in page.events],
        "next_cursor": page.next_cursor,
        "has_more": page.has_more,
    }


#: The models with a fast path to JSON data (the event stream sends events one
#: by one), and their functions. The other hot models are rendered straight to
#: text (``FAST_TEXT_TYPES``) and never come here.
FAST_TYPES: dict[type, Callable[[Any], dict[str, Any]]] = {
    Event: _event,
    EventPage: _event_page,
}


def to_json_data(value: Any) -> Any:
    """``value`` as JSON-ready data: a fast function for the hot models, the converter for the rest."""
    fast = FAST_TYPES.get(type(value))
    return fast(value) if fast is not None else unstructure(value)


# -- JSON text, with a cache of rendered fragments ------------------------------
#
# Encoding dominates a 50-worker page: a cache lookup of an equal model costs
# a fraction of encoding it (docs/performance.md). Workers and transcript entries are frozen
# attrs models whose rendering depends on their field values only, so equal
# models have equal JSON; pages are assembled from cached fragments.


@functools.lru_cache(maxsize=FRAGMENT_CACHE_SIZE)
def _cached_worker_text(worker: Worker) -> str:
    return encode_json(_worker(worker))


def _worker_text(worker: Worker) -> str:
    try:
        return _cached_worker_text(worker)
    except TypeError:  # a field holding something unhashable: render it uncached
        return encode_json(_worker(worker))


def _entry_data(e: TranscriptEntry) -> dict[str, Any]:
    return {
        "sequence": e.sequence,
        "role": e.role,
        "content": e.content,
        "event_id": e.event_id,
        "created_at": _timestamp(e.created_at),
    }


@functools.lru_cache(maxsize=FRAGMENT_CACHE_SIZE)
def _cached_entry_text(entry: TranscriptEntry) -> str:
    return encode_json(_entry_data(entry))


def _entry_text(entry: TranscriptEntry) -> str:
    if len(entry.content) <= FRAGMENT_MAX_CONTENT:
        try:
            return _cached_entry_text(entry)
        except TypeError:
            pass
    return encode_json(_entry_data(entry))


def _worker_page_text(page: WorkerPage) -> str:
    return (
        f'{{"runtime_id":{encode_json(page.runtime_id)},"items":[{",".join(map(_worker_text, page.items))}],'
        f'"next_cursor":{encode_json(page.next_cursor)},"diagnostics":{encode_json(_diagnostics(page.diagnostics))}}}'
    )


def _worker_overview_text(page: WorkerOverview) -> str:
    return (
        f'{{"items":[{",".join(map(_worker_text, page.items))}],'
        f'"next_cursor":{encode_json(page.next_cursor)},"diagnostics":{encode_json(_diagnostics(page.diagnostics))}}}'
    )


def _transcript_page_text(page: TranscriptPage) -> str:
    return (
        f'{{"runtime_id":{encode_json(page.runtime_id)},"worker_id":{encode_json(page.worker_id)},'
        f'"items":[{",".join(map(_entry_text, page.items))}],"start":{encode_json(page.start)},'
        f'"limit":{encode_json(page.limit)},"total":{encode_json(page.total)},"next_start":{encode_json(page.next_start)}}}'
    )


def _scalar_text(value: Any) -> str:
    # An int is written as ``str`` writes it and None as null (what the encoder
    # does, without building an encoder for it); anything else, including a
    # wrong type a provider put there, goes through the encoder.
    kind = type(value)
    if kind is int:
        return str(value)
    if value is None:
        return "null"
    return encode_json(value)


def _string_text(value: Any) -> str:
    # A str as the encoder writes it (its own C function for strings); anything else through the encoder.
    return _encode_string(value) if type(value) is str else encode_json(value)


# The answers of the write routes are small flat objects: formatting them
# directly is several times cheaper than building a dict and encoding it (the
# encoder builds its C encoder on every call), on the busiest write route
# (docs/performance.md, "HTTP server throughput").
def _input_accepted_text(a: InputAccepted) -> str:
    sequence, event_id, position = a.transcript_sequence, a.event_id, a.queue_position
    runtime_id, worker_id, status = a.runtime_id, a.worker_id, a.status
    if (
        type(sequence) is int
        and type(event_id) is int
        and position is None
        and type(runtime_id) is str
        and type(worker_id) is str
        and type(status) is str
    ):
        # An input that started its turn, every field of its type: one format, no call per field (decision 0263).
        return (
            f'{{"runtime_id":{_encode_string(runtime_id)},"worker_id":{_encode_string(worker_id)},'
            f'"transcript_sequence":{sequence},"event_id":{event_id},'
            f'"status":{_encode_string(status)},"queue_position":null}}'
        )
    return (
        f'{{"runtime_id":{_string_text(a.runtime_id)},"worker_id":{_string_text(a.worker_id)},'
        f'"transcript_sequence":{_scalar_text(a.transcript_sequence)},"event_id":{_scalar_text(a.event_id)},'
        f'"status":{_string_text(a.status)},"queue_position":{_scalar_text(a.queue_position)}}}'
    )


def _action_result_text(r: WorkerActionResult) -> str:
    return (
        f'{{"runtime_id":{_string_text(r.runtime_id)},"worker_id":{_string_text(r.worker_id)},'
        f'"action":{_string_text(r.action)},"changed":{encode_json(r.changed)},"status":{_string_text(r.status)}}}'
    )


#: The models rendered straight to text (from cached fragments, or formatted directly).
FAST_TEXT_TYPES: dict[type, Callable[[Any], str]] = {
    Worker: _worker_text,
    WorkerPage: _worker_page_text,
    WorkerOverview: _worker_overview_text,
    TranscriptEntry: _entry_text,
    TranscriptPage: _transcript_page_text,
    InputAccepted: _input_accepted_text,
    WorkerActionResult: _action_result_text,
}


def render_json(value: Any) -> str:
    """``value`` as JSON text: exactly ``encode_json(unstructure(value))``, faster for the hot models."""
    fast = FAST_TEXT_TYPES.get(type(value))
    return fast(value) if fast is not None else encode_json(to_json_data(value))
