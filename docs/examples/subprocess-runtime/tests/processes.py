"""Commands the tests run, and checks on the processes they start."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from subprocess_runtime import SubprocessProvider

#: Replies with the input in capitals.
UPPERCASE = "import sys; print(sys.stdin.read().upper())"

#: Starts a child of its own, writes "PID CHILD_PID" to the file named by
#: argv[1], then sleeps: a turn that only cancellation ends.
SLEEPER = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(f"{os.getpid()} {child.pid}")
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(60)
"""


def python_command(source: str, *arguments: str) -> tuple[str, ...]:
    """An argv running ``source`` with this interpreter (no shell involved)."""
    return (sys.executable, "-c", source, *arguments)


async def read_pids(pid_file: Path) -> tuple[int, int]:
    """Wait (up to 5 s) for :data:`SLEEPER` to report ``(its pid, its child's pid)``."""
    async with asyncio.timeout(5):
        while not pid_file.exists():
            await asyncio.sleep(0.01)
    parent, child = pid_file.read_text().split()
    return int(parent), int(child)


def process_is_running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie awaiting its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


async def ends_soon(pid: int) -> bool:
    """Whether ``pid`` is gone within 5 s.

    The command itself is reaped before cancel returns, so it is gone at once.
    What it started was sent SIGKILL with its process group; the kernel ends
    such a process as soon as it is next scheduled, which on a busy machine
    may be a moment after cancel returned.
    """
    for _ in range(500):
        if not process_is_running(pid):
            return True
        await asyncio.sleep(0.01)
    return False


async def wait_until_idle(provider: SubprocessProvider, worker_id: str) -> None:
    """Wait (up to 5 s) for the worker's turn to end."""
    async with asyncio.timeout(5):
        while (await provider.get_worker(worker_id)).status == "busy":
            await asyncio.sleep(0.01)


requires_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process checks read /proc")
