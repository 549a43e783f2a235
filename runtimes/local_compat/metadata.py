"""From the bytes of one ``metadata.json`` to what may be shown of the worker.

This is the whole projection of the format (see ``docs/local-compat.md``):
a label, a status from the ``active`` pointer and role/profile hints. Every
other field — paths, sockets, session and segment ids, callbacks, scopes,
the rest of the manifest — is read past and dropped here, so nothing further
up can leak it.
"""

from __future__ import annotations

import json
import os
from typing import Any

import attrs

from registry_core.models import Diagnostic
from runtime_registry.runtimes.local_compat.display_text import display_text, looks_like_a_path
from runtime_registry.runtimes.local_compat.skips import SkipReason
from runtime_registry.runtimes.local_compat.workspace import same_workspace

__all__ = ["LocalWorker", "project_metadata", "ACTIVE", "ACTIVE_PENDING", "INACTIVE", "UNKNOWN"]

#: ``active`` with a ``segment_id``: the worker was in a session segment when last written.
ACTIVE = "active"
#: ``active`` without a ``segment_id``: a session was starting when last written.
ACTIVE_PENDING = "active_pending"
#: no ``active`` pointer.
INACTIVE = "inactive"
#: an ``active`` field of the wrong type: the status cannot be told.
UNKNOWN = "unknown"


@attrs.frozen
class LocalWorker:
    """One listable local worker, already safe to show.

    :param worker_id: the opaque id (see :mod:`runtime_registry.runtimes.local_compat.worker_ids`).
    :param label: the worker name made displayable, or ``None``.
    :param status: ``active``, ``active_pending``, ``inactive`` or ``unknown``.
    :param role: the role hint of the manifest snapshot, made displayable.
    :param profile: the profile hint of the manifest snapshot, made displayable.
    :param diagnostics: notes about this worker (a withheld hint, an unreadable status).
    """

    worker_id: str
    label: str | None
    status: str
    role: str | None
    profile: str | None
    diagnostics: tuple[Diagnostic, ...] = ()


def project_metadata(
    raw: bytes, *, directory_name: bytes, worker_id: str, workspace: tuple[str, ...]
) -> LocalWorker | SkipReason:
    """Project one file's bytes, or say why the worker is not listed.

    :param raw: the file's content (already bounded in size by the caller).
    :param directory_name: the pod directory's name; ``worker_name`` must match it.
    :param worker_id: the id derived from ``directory_name``.
    :param workspace: the configured workspace root's components.
    """
    data = _parse_object(raw)
    if data is None or not isinstance(data.get("worker_name"), str):
        return SkipReason.METADATA_CORRUPT
    name: str = data["worker_name"]
    if _name_bytes(name) != directory_name:
        return SkipReason.NAME_MISMATCH
    if not same_workspace(data.get("workspace_root"), workspace):
        return SkipReason.OTHER_WORKSPACE
    notes: list[Diagnostic] = []
    status = _status(data.get("active"), notes)
    manifest = data.get("resolved_manifest_snapshot")
    role = profile = None
    if isinstance(manifest, dict):
        role_claim = manifest.get("role_claim")
        role = _hint(
            manifest.get("role", role_claim.get("role") if isinstance(role_claim, dict) else None), "role", notes
        )
        profile = _hint(manifest.get("profile_selector", manifest.get("profile")), "profile", notes)
    return LocalWorker(
        worker_id=worker_id,
        label=display_text(name),
        status=status,
        role=role,
        profile=profile,
        diagnostics=tuple(notes),
    )


def _parse_object(raw: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        # RecursionError: deeply nested arrays are valid JSON that the parser
        # cannot hold; treat them like any other unusable file.
        return None
    return data if isinstance(data, dict) else None


def _name_bytes(name: str) -> bytes | None:
    try:
        return os.fsencode(name)
    except (UnicodeEncodeError, ValueError):
        return None


def _status(active: Any, notes: list[Diagnostic]) -> str:
    if active is None:
        return INACTIVE
    if not isinstance(active, dict):
        notes.append(Diagnostic.warning("local_status_unreadable", "the active pointer is not an object"))
        return UNKNOWN
    return ACTIVE if active.get("segment_id") is not None else ACTIVE_PENDING


def _hint(value: Any, what: str, notes: list[Diagnostic]) -> str | None:
    if isinstance(value, dict):
        value = value.get("name")
    if not isinstance(value, str):
        return None
    if looks_like_a_path(value):
        # A hint that names a file would leak part of a path even with the
        # separators removed: leave it out and say so.
        notes.append(Diagnostic.info("local_hint_withheld", f"the {what} hint looks like a path and is not shown"))
        return None
    return display_text(value)
