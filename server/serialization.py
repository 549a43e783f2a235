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
from collections.abc import Callable
from datetime import datetime, timezone
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
)

__all__ = ["to_json_data", "FAST_TYPES"]


@functools.lru_cache(maxsize=8192)
def _timestamp(value: datetime) -> str:
    # The same text as registry_core.converter.format_timestamp, without
    # strftime; cached because the same worker's created_at is rendered on
    # every read of it.
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
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
    }


def _worker_page(page: WorkerPage) -> dict[str, Any]:
    return {
        "runtime_id": page.runtime_id,
        "items": [_worker(w) for w in page.items],
        "next_cursor": page.next_cursor,
        "diagnostics": _diagnostics(page.diagnostics),
    }


def _worker_overview(page: WorkerOverview) -> dict[str, Any]:
    return {"items": [_worker(w) for w in page.items], "next_cursor": page.next_cursor, "diagnostics": _diagnostics(page.diagnostics)}


def _input_accepted(a: InputAccepted) -> dict[str, Any]:
    return {
        "runtime_id": a.runtime_id,
        "worker_id": a.worker_id,
        "transcript_sequence": a.transcript_sequence,
        "event_id": a.event_id,
        "status": a.status,
    }


def _action_result(r: WorkerActionResult) -> dict[str, Any]:
    return {"runtime_id": r.runtime_id, "worker_id": r.worker_id, "action": r.action, "changed": r.changed, "status": r.status}


def _transcript_page(page: TranscriptPage) -> dict[str, Any]:
    return {
        "runtime_id": page.runtime_id,
        "worker_id": page.worker_id,
        "items": [
            {"sequence": e.sequence, "role": e.role, "content": e.content, "event_id": e.event_id, "created_at": _timestamp(e.created_at)}
            for e in page.items
        ],
        "start": page.start,
        "limit": page.limit,
        "total": page.total,
        "next_start": page.next_start,
    }


def _event(e: Event) -> dict[str, Any]:
    # ``data`` is free-form: the converter decides how its values render.
    return {"id": e.id, "type": e.type, "worker_id": e.worker_id, "data": unstructure(e.data), "created_at": _timestamp(e.created_at)}


def _event_page(page: EventPage) -> dict[str, Any]:
    return {"runtime_id": page.runtime_id, "events": [_event(e) for e in page.events], "next_cursor": page.next_cursor, "has_more": page.has_more}


#: The models with a fast path, and their functions.
FAST_TYPES: dict[type, Callable[[Any], dict[str, Any]]] = {
    Worker: _worker,
    WorkerPage: _worker_page,
    WorkerOverview: _worker_overview,
    InputAccepted: _input_accepted,
    WorkerActionResult: _action_result,
    TranscriptEntry: lambda e: _transcript_page(TranscriptPage("", "", (e,), 0, 0, 0, None))["items"][0],
    TranscriptPage: _transcript_page,
    Event: _event,
    EventPage: _event_page,
}


def to_json_data(value: Any) -> Any:
    """``value`` as JSON-ready data: a fast function for the hot models, the converter for the rest."""
    fast = FAST_TYPES.get(type(value))
    return fast(value) if fast is not None else unstructure(value)
