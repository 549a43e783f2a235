"""A real filesystem that can be frozen: ext4 on a loop device, ``fsfreeze -f`` / ``-u``.

A frozen filesystem blocks every write, and SQLite's readers write too (the
shared-memory file's read marks), so a store on it hangs whatever touches
it — what an operator's snapshot tool or a stuck network disk does. Needs
root, ``mkfs.ext4``, loop devices and ``fsfreeze``; skipped with the reason
where any is missing.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["FreezableFilesystem", "freezable_filesystem"]


class FreezableFilesystem:
    """An ext4 filesystem mounted at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.frozen = False

    def freeze(self) -> None:
        subprocess.run(["fsfreeze", "-f", str(self.path)], check=True)
        self.frozen = True

    def thaw(self) -> None:
        if self.frozen:
            subprocess.run(["fsfreeze", "-u", str(self.path)], check=True)
            self.frozen = False


@contextlib.contextmanager
def freezable_filesystem(directory: Path, size_mib: int = 32) -> Iterator[FreezableFilesystem]:
    """Make, mount and (at the end) thaw and unmount an ext4 image in ``directory``."""
    missing = [tool for tool in ("mkfs.ext4", "fsfreeze", "mount") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"no {', '.join(missing)} here")
    image, mountpoint = directory / "fs.img", directory / "mnt"
    mountpoint.mkdir(parents=True)
    with image.open("wb") as file:
        file.truncate(size_mib * 1024 * 1024)
    made = subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], capture_output=True, check=False)
    mounted = made.returncode == 0 and (
        subprocess.run(
            ["mount", "-o", "loop", str(image), str(mountpoint)], capture_output=True, check=False
        ).returncode
        == 0
    )
    if not mounted:
        pytest.skip("cannot make and mount a loop filesystem here (needs root and loop devices)")
    fs = FreezableFilesystem(mountpoint)
    try:
        yield fs
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            fs.thaw()
        subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True, check=False)
