"""Worker rows from JSON data without the converter, for the answers a client reads most.

``registry_core.converter.structure`` is the definition of what a valid
worker row is; it is also about 15 µs of CPU a row (cattrs' generated hooks,
optional fields, annotated constraints), which a ``remote`` front paid on
every row it proxied (issue 23). A row in the exact shape the server renders
— every key, in the documented order, each value of its plain JSON type —
is checked here field by field with the converter's own rules and built
directly; nested values that repeat across rows (an intent, a diagnostic,
a timestamp) are structured by the converter once and then reused.
Anything else — a missing or extra key, another order, a wrong type — is
not guessed at: :func:`worker_row` answers ``None`` and the caller falls
back to the converter, which raises the typed error with its field path.
A test compares the two on generated and hostile rows (decision 0202).
"""

from __future__ import annotations

import functools
import json
import re
from datetime import datetime
from typing import Any, TypeVar

from registry_core.converter import structure
from registry_core.errors import InvalidRequest
from registry_core.models import Diagnostic, Intent, Worker, WorkerPage, WorkerTotals
from runtime_registry.client.errors import MalformedResponse

T = TypeVar("T")

__all__ = [
    "WORKER_KEYS",
    "decoded",
    "readdressed",
    "structured",
    "worker_from_body",
    "worker_page",
    "worker_page_from_body",
    "worker_row",
    "worker_rows",
]

#: A worker row's keys, in the order the server renders them (docs/api.md).
WORKER_KEYS = (
    "runtime_id",
    "worker_id",
    "kind",
    "label",
    "status",
    "profile",
    "intent",
    "created_at",
    "transcript_length",
    "diagnostics",
    "totals",
)

#: Distinct intents, diagnostics and timestamps kept structured (each cache).
NESTED_CACHE_SIZE = 1024

# The converter's rule for every string (registry_core.converter._strict_str):
# no unpaired surrogate, which no response could encode.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _is_text(value: Any) -> bool:
    return type(value) is str and (value.isascii() or _SURROGATE.search(value) is None)


def _is_optional_text(value: Any) -> bool:
    return value is None or _is_text(value)


# The nested values are structured by the converter itself (its constraints:
# text lengths, single lines, enums), once per distinct value: the key is the
# tuple of the JSON values, so equal JSON gives the same model. A value the
# converter refuses raises, and is not cached.


@functools.lru_cache(maxsize=NESTED_CACHE_SIZE, typed=True)
def _intent(kind: Any, purpose: Any, objective: Any, role: Any) -> Intent:
    return structure({"kind": kind, "purpose": purpose, "objective": objective, "role": role}, Intent)


@functools.lru_cache(maxsize=NESTED_CACHE_SIZE, typed=True)
def _diagnostic(code: Any, severity: Any, message: Any) -> Diagnostic:
    return structure({"code": code, "severity": severity, "message": message}, Diagnostic)


@functools.lru_cache(maxsize=NESTED_CACHE_SIZE)
def _created_at(text: str) -> datetime:
    return structure(text, datetime)


_INTENT_KEYS = ("kind", "purpose", "objective", "role")
_DIAGNOSTIC_KEYS = ("code", "severity", "message")
_TOTALS_KEYS = ("turns", "input_tokens", "output_tokens")


def _nested_intent(value: Any) -> Intent | None:
    if type(value) is not dict or tuple(value) != _INTENT_KEYS:
        raise _NotCanonical
    fields = tuple(value.values())
    if not all(map(_is_hashable_scalar, fields)):
        raise _NotCanonical
    return _intent(*fields)


def _nested_diagnostics(values: Any) -> tuple[Diagnostic, ...]:
    if type(values) is not list:
        raise _NotCanonical
    if not values:
        return ()
    diagnostics = []
    for value in values:
        if type(value) is not dict or tuple(value) != _DIAGNOSTIC_KEYS:
            raise _NotCanonical
        fields = tuple(value.values())
        if not all(map(_is_hashable_scalar, fields)):
            raise _NotCanonical
        diagnostics.append(_diagnostic(*fields))
    return tuple(diagnostics)


def _nested_totals(value: Any) -> WorkerTotals | None:
    if value is None:
        return None
    if type(value) is not dict or tuple(value) != _TOTALS_KEYS:
        raise _NotCanonical
    turns, input_tokens, output_tokens = value.values()
    if type(turns) is not int or type(input_tokens) is not int or type(output_tokens) is not int:
        raise _NotCanonical
    return WorkerTotals(turns, input_tokens, output_tokens)


def _is_hashable_scalar(value: Any) -> bool:
    # JSON scalars only (a list or object is not a valid field of these models anyway).
    return value is None or type(value) in (str, int, float, bool)


class _NotCanonical(Exception):
    """The row is not in the exact rendered shape: the converter decides."""


def worker_row(data: Any, *, runtime_id: str | None = None, kind: str | None = None) -> Worker | None:
    """The worker ``data`` (JSON data) is, or ``None`` if it is not in the exact rendered shape.

    ``runtime_id`` and ``kind``, when given, replace the row's own in the
    model (a front re-addressing a remote's row); the row's own must still be
    strings. The result equals ``structure(data, Worker)`` (re-addressed) for
    every row it accepts. A row it declines may still be valid (keys in
    another order, a missing ``totals``): the converter decides.

    It never raises: whatever it cannot vouch for is ``None``.
    """
    if type(data) is not dict or tuple(data) != WORKER_KEYS:
        return None
    (
        row_runtime_id,
        worker_id,
        row_kind,
        label,
        status,
        profile,
        intent,
        created_at,
        transcript_length,
        diagnostics,
        totals,
    ) = data.values()
    if not (
        _is_text(row_runtime_id)
        and _is_text(worker_id)
        and _is_text(row_kind)
        and _is_optional_text(label)
        and _is_text(status)
        and _is_optional_text(profile)
        and type(transcript_length) is int
        and (created_at is None or type(created_at) is str)
    ):
        return None
    try:
        return Worker(
            row_runtime_id if runtime_id is None else runtime_id,
            worker_id,
            row_kind if kind is None else kind,
            label,
            status,
            profile,
            None if intent is None else _nested_intent(intent),
            None if created_at is None else _created_at(created_at),
            transcript_length,
            _nested_diagnostics(diagnostics),
            _nested_totals(totals),
        )
    except (_NotCanonical, InvalidRequest):
        # Not the rendered shape, or a nested value the converter refuses:
        # the caller's converter run says which field, with its path.
        return None


def worker_rows(items: Any, *, runtime_id: str | None = None, kind: str | None = None) -> tuple[Worker, ...] | None:
    """Every row of ``items`` (a JSON array) as :func:`worker_row` builds it; ``None`` if any row declines."""
    if type(items) is not list:
        return None
    rows = []
    for item in items:
        row = worker_row(item, runtime_id=runtime_id, kind=kind)
        if row is None:
            return None
        rows.append(row)
    return tuple(rows)


_PAGE_KEYS = ("runtime_id", "items", "next_cursor", "diagnostics")


def worker_page(data: Any, *, runtime_id: str | None = None, kind: str | None = None) -> WorkerPage | None:
    """The page of workers ``data`` is, built as :func:`worker_row` builds rows; ``None`` if any part declines.

    ``runtime_id`` and ``kind`` re-address the page and every row.
    """
    if type(data) is not dict or tuple(data) != _PAGE_KEYS:
        return None
    page_runtime_id, items, next_cursor, diagnostics = data.values()
    if not (_is_text(page_runtime_id) and _is_optional_text(next_cursor)):
        return None
    rows = worker_rows(items, runtime_id=runtime_id, kind=kind)
    if rows is None:
        return None
    try:
        page_diagnostics = _nested_diagnostics(diagnostics)
    except (_NotCanonical, InvalidRequest):
        return None
    return WorkerPage(page_runtime_id if runtime_id is None else runtime_id, rows, next_cursor, page_diagnostics)


# -- whole answers: bytes in, a model out or MalformedResponse --------------------


def decoded(body: bytes) -> Any:
    """The JSON data of an answer's body; ``MalformedResponse`` if it is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedResponse("the server's answer is not JSON") from None


def structured(data: Any, model: type[T]) -> T:
    """``data`` as ``model`` by the converter; ``MalformedResponse`` (with the field paths) if it is not one."""
    try:
        return structure(data, model)
    except InvalidRequest as exc:
        raise MalformedResponse(
            f"the server's answer is not a valid {getattr(model, '__name__', 'value')}", details=exc.details[:5]
        ) from None


def worker_from_body(body: bytes, *, runtime_id: str | None = None, kind: str | None = None) -> Worker:
    """The worker an answer's body holds, re-addressed to ``runtime_id`` and ``kind`` when given.

    :raises MalformedResponse: not JSON, or not a worker (the converter's field paths in ``details``).
    """
    data = decoded(body)
    worker = worker_row(data, runtime_id=runtime_id, kind=kind)
    if worker is not None:
        return worker
    worker = structured(data, Worker)
    if runtime_id is None and kind is None:
        return worker
    return readdressed(worker, runtime_id, kind)


def worker_page_from_body(body: bytes, *, runtime_id: str | None = None, kind: str | None = None) -> WorkerPage:
    """The page of workers an answer's body holds, re-addressed as :func:`worker_from_body` does.

    :raises MalformedResponse: not JSON, or not a page of workers.
    """
    data = decoded(body)
    page = worker_page(data, runtime_id=runtime_id, kind=kind)
    if page is not None:
        return page
    page = structured(data, WorkerPage)
    if runtime_id is None and kind is None:
        return page
    rows = tuple(readdressed(worker, runtime_id, kind) for worker in page.items)
    return WorkerPage(page.runtime_id if runtime_id is None else runtime_id, rows, page.next_cursor, page.diagnostics)


def readdressed(worker: Worker, runtime_id: str | None, kind: str | None) -> Worker:
    """``worker`` with ``runtime_id`` and ``kind`` (where not ``None``) in place of its own."""
    # Built field by field: attrs.evolve costs several times as much, once per row of every page.
    return Worker(
        worker.runtime_id if runtime_id is None else runtime_id,
        worker.worker_id,
        worker.kind if kind is None else kind,
        worker.label,
        worker.status,
        worker.profile,
        worker.intent,
        worker.created_at,
        worker.transcript_length,
        worker.diagnostics,
        worker.totals,
    )
