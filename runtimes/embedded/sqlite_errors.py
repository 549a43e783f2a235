"""What an operator is told when the SQLite store cannot start: read-only, full, or damaged are different things.

A start that fails because the filesystem is read-only, or full, is not a
damaged file, and saying "damaged or unreadable" for all three sends the
operator to look at the wrong thing (issue 24, points 2 and 13). The
failure's own code says which: SQLite's result code (``SQLITE_READONLY``,
``SQLITE_FULL``, ...) or the operating system's ``errno``. Messages never
name the path (the log line next to them does).
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from runtime_registry.runtimes.embedded.store import StoreUnusable

__all__ = ["DISK_FULL", "READ_ONLY", "start_failure", "start_failure_message"]

#: The start failed because the filesystem has no room.
DISK_FULL = "the store's disk is full; free some space and restart (the file was left untouched)"
#: The start failed because the filesystem (or the file) cannot be written.
READ_ONLY = (
    "the store's filesystem is read-only (or the file cannot be written); "
    "make it writable and restart (the file was left untouched)"
)
_DAMAGED = "the store file is damaged; it was left untouched"
_IO_ERROR = "the store file cannot be read (an I/O error); it was left untouched"

# SQLite's primary result codes (the low byte of an extended code).
_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 8, 10, 11, 13, 14, 26
_SQLITE_PERM, _SQLITE_AUTH = 3, 23
_READ_ONLY_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM}
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


#: Less free space than this (a few pages) counts as full when SQLite reports only an I/O error.
_NEARLY_FULL_BYTES = 64 * 1024


def _filesystem_state(directory: Path | None) -> str | None:
    """``READ_ONLY`` or ``DISK_FULL`` when the filesystem of ``directory`` says so, else ``None``."""
    if directory is None:
        return None
    try:
        stats = os.statvfs(directory)
    except OSError:
        return None
    if stats.f_flag & os.ST_RDONLY:
        return READ_ONLY
    if stats.f_bavail * stats.f_frsize < _NEARLY_FULL_BYTES:
        return DISK_FULL
    return None


def start_failure_message(error: BaseException, directory: Path | None = None) -> str:
    """The one line a runtime says when opening its store (in ``directory``) failed with ``error``.

    SQLite reports a full disk met while mapping its shared-memory file, or
    a read-only one, as a plain I/O error; the filesystem itself then says
    which (``statvfs``), so an I/O error is called damaged only when the
    filesystem is writable and has room.
    """
    if isinstance(error, OSError):
        if error.errno in _READ_ONLY_ERRNOS:
            return READ_ONLY
        if error.errno in _FULL_ERRNOS:
            return DISK_FULL
        return f"the store file cannot be opened ({errno.errorcode.get(error.errno or 0, 'error')})"
    if isinstance(error, sqlite3.Error):
        code = (getattr(error, "sqlite_errorcode", None) or 0) & 0xFF
        if code in (_SQLITE_READONLY, _SQLITE_PERM, _SQLITE_AUTH):
            return READ_ONLY
        if code == _SQLITE_FULL:
            return DISK_FULL
        if code == _SQLITE_IOERR:
            return _filesystem_state(directory) or _IO_ERROR
        if code == _SQLITE_CANTOPEN:
            return "the store file cannot be opened; it was left untouched"
        if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
            return _DAMAGED
    return _filesystem_state(directory) or "the store file is damaged or unreadable; it was left untouched"


def start_failure(error: BaseException, directory: Path | None = None) -> StoreUnusable:
    """The :class:`StoreUnusable` for ``error``: transient (retried) when the filesystem is read-only or full."""
    message = start_failure_message(error, directory)
    return StoreUnusable(message, transient=message in (READ_ONLY, DISK_FULL))
