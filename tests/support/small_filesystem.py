"""A small real filesystem for full-disk and read-only tests: a tmpfs mounted for one test.

Mounting needs root (or CAP_SYS_ADMIN); where the test cannot mount, it is
skipped with the reason, and the store's fault tests that inject SQLite's
own errors (tests/embedded/test_sqlite_faults.py) still run.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["SmallFilesystem", "small_filesystem"]


class SmallFilesystem:
    """A mounted tmpfs of a fixed size at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._filler = path / ".filler"

    def _mount(self, *options: str) -> None:
        subprocess.run(["mount", "-o", ",".join(("remount", *options)), str(self.path)], check=True)

    def read_only(self) -> None:
        """Remount read-only (open files stay open; their writes fail with EROFS)."""
        self._mount("ro")

    def writable(self) -> None:
        """Remount read-write."""
        self._mount("rw")

    def fill(self) -> None:
        """Take every free byte (a filler file grows until ENOSPC)."""
        fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (1 << 20, 65536, 4096, 512, 1):
                chunk = b"\0" * size
                try:
                    while os.write(fd, chunk) == size:
                        pass
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise
        finally:
            os.close(fd)

    def free(self, size: int | None = None) -> None:
        """Give back ``size`` bytes of the filler (``None``: all of it)."""
        if not self._filler.exists():
            return
        if size is None:
            self._filler.unlink()
            return
        current = self._filler.stat().st_size
        os.truncate(self._filler, max(0, current - size))

    def free_bytes(self) -> int:
        stats = os.statvfs(self.path)
        return stats.f_bavail * stats.f_frsize


@contextlib.contextmanager
def small_filesystem(path: Path, size_bytes: int) -> Iterator[SmallFilesystem]:
    """Mount a ``size_bytes`` tmpfs at ``path`` (created) for the block; skip the test where mounting is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_bytes},mode=0755", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode(errors='replace').strip()}")
    try:
        yield SmallFilesystem(path)
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(path)], capture_output=True, check=False)
        # Lazy: a server a failed test left running must not keep the mount (and the test run) hanging.
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)
