"""Rules on single results that several checks hold a provider to: a worker's fields, an action's answer."""

from __future__ import annotations

from registry_core.identifiers import is_valid_identifier
from registry_core.models import Worker, WorkerActionResult

from .contract import require

__all__ = ["check_action", "check_worker"]


def check_worker(worker: Worker) -> None:
    """A worker must have a valid id, a status and a transcript length of 0 or more."""
    require(
        is_valid_identifier(worker.worker_id),
        f"worker id {worker.worker_id!r} breaks the id rules (1-120 of A-Z a-z 0-9 - _ :)",
    )
    require(isinstance(worker.status, str) and worker.status, f"worker {worker.worker_id!r} has no status")
    require(
        isinstance(worker.transcript_length, int)
        and not isinstance(worker.transcript_length, bool)
        and worker.transcript_length >= 0,
        f"worker {worker.worker_id!r} has transcript_length {worker.transcript_length!r}",
    )


def check_action(result: WorkerActionResult, worker_id: str, action: str) -> None:
    """An action's result must name that worker and that action, and say with a bool whether it changed anything."""
    require(
        (result.worker_id, result.action) == (worker_id, action) and isinstance(result.changed, bool),
        f"{action}_worker({worker_id!r}) must answer action {action!r} for that worker with a bool 'changed'; "
        f"got action {result.action!r} for {result.worker_id!r}, changed {result.changed!r}",
    )
