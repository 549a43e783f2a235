"""Why a pod entry is not listed, and how a page reports it.

Each page carries at most one diagnostic per reason, with a count: the number
of diagnostics is bounded whatever the directory holds, and none names a
path, a worker name or an exception text.
"""

from __future__ import annotations

import enum
from collections import Counter

from registry_core.models import Diagnostic, Severity

__all__ = ["SkipReason", "SkipTally"]


class SkipReason(enum.Enum):
    """A reason a pod entry is left out of a listing. Values are diagnostic codes."""

    NOT_A_DIRECTORY = "local_entry_not_a_directory"
    OUTSIDE_DATA_DIR = "local_entry_outside_data_dir"
    METADATA_MISSING = "local_metadata_missing"
    METADATA_UNREADABLE = "local_metadata_unreadable"
    METADATA_TOO_LARGE = "local_metadata_too_large"
    METADATA_CORRUPT = "local_metadata_corrupt"
    NAME_MISMATCH = "local_worker_name_mismatch"
    OTHER_WORKSPACE = "local_other_workspace"
    ID_COLLISION = "local_worker_id_collision"

    @property
    def severity(self) -> Severity:
        """``info`` for entries that are fine but not ours; ``warning`` for damage."""
        if self in (SkipReason.NOT_A_DIRECTORY, SkipReason.OTHER_WORKSPACE):
            return Severity.INFO
        return Severity.WARNING

    @property
    def explanation(self) -> str:
        """What is wrong, in words that name no path."""
        return _EXPLANATIONS[self]


_EXPLANATIONS = {
    SkipReason.NOT_A_DIRECTORY: "not a directory",
    SkipReason.OUTSIDE_DATA_DIR: "a symbolic link that leads outside the data directory",
    SkipReason.METADATA_MISSING: "no metadata.json",
    SkipReason.METADATA_UNREADABLE: "metadata.json could not be read (permissions, I/O error or not a regular file)",
    SkipReason.METADATA_TOO_LARGE: "metadata.json is larger than max_metadata_bytes",
    SkipReason.METADATA_CORRUPT: "metadata.json is not a UTF-8 JSON object with a string worker_name",
    SkipReason.NAME_MISMATCH: "metadata.json names a different worker than its directory",
    SkipReason.OTHER_WORKSPACE: "the worker belongs to another workspace, or to none",
    SkipReason.ID_COLLISION: "the worker id of the name collides with another name's",
}


class SkipTally:
    """Counts skipped entries by reason and turns the counts into diagnostics."""

    def __init__(self) -> None:
        self._counts: Counter[SkipReason] = Counter()

    def add(self, reason: SkipReason, count: int = 1) -> None:
        """Record ``count`` entries skipped for ``reason``."""
        if count > 0:
            self._counts[reason] += count

    def count(self, reason: SkipReason) -> int:
        """How many entries were skipped for ``reason``."""
        return self._counts[reason]

    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """One diagnostic per reason seen, in a fixed order."""
        result = []
        for reason in SkipReason:
            count = self._counts[reason]
            if count:
                noun = "entry" if count == 1 else "entries"
                message = f"{count} pod {noun} not listed: {reason.explanation}"
                result.append(Diagnostic(reason.value, reason.severity, message))
        return tuple(result)
