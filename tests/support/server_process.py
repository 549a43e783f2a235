"""The real server in a child process: ``runtime-registry serve`` on a free loopback port.

Tests and benchmarks that drive the server over real sockets run what an
operator runs: uvicorn, the lifespan, the CLI. The process is started by the
caller, is healthy once ``/healthz`` answers 200, and is stopped by its pid
(never by name): SIGTERM, then SIGKILL if it hangs. Its resource use is read
from ``/proc/PID`` (resident memory, open file descriptors).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

import attrs

#: What the ``runtime-registry`` console script runs; run with a chosen
#: interpreter (the script itself would use the one it was installed with).
CLI = "import sys; from runtime_registry.server.cli import main; sys.argv[0] = 'runtime-registry'; sys.exit(main())"

#: How long the server may take to answer ``/healthz`` after it was started.
STARTUP_TIMEOUT = 30.0

#: How long a stopped server may take to exit after SIGTERM before it is killed.
STOP_TIMEOUT = 15.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_command(*arguments: str, python: str | os.PathLike[str] = sys.executable) -> list[str]:
    """The command line of ``runtime-registry serve ARGUMENTS`` run with ``python``."""
    return [os.fspath(python), "-c", CLI, "serve", *arguments]


def healthz_status(port: int) -> int | None:
    """The status of ``GET /healthz`` on ``port``, or ``None`` while nothing answers.

    A raw socket, not httpx: ``httpx.get`` builds an SSL context per call
    (about 20 ms of CPU), which on two cores slows the very start it waits
    for (and that a benchmark times) and makes the poll far coarser than it looks.
    """
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            head = connection.recv(64)
    except OSError:
        return None
    parts = head.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def wait_until_healthy(
    process: subprocess.Popen[bytes], port: int, *, log: Path | None = None, poll: float = 0.05
) -> None:
    """Return once ``/healthz`` on ``port`` answers 200; raise if ``process`` exits or takes too long.

    The error carries the server's output (``log``) when there is one.
    """

    def output() -> str:
        return f":\n{log.read_text(errors='replace')}" if log is not None else ""

    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}{output()}")
        if healthz_status(port) == 200:
            return
        time.sleep(poll)
    raise AssertionError(f"the server did not become healthy in {STARTUP_TIMEOUT} s{output()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop ``process`` by its pid if it still runs: SIGTERM, then SIGKILL after ``STOP_TIMEOUT`` s."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def started(
    command: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    output: IO[bytes] | int = subprocess.DEVNULL,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` until the block ends, then ``stop`` it; stdout and stderr both go to ``output``."""
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        stop(process)


@attrs.define
class ServerProcess:
    """A started server: its base URL, its process, and where its log goes."""

    base_url: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.process.pid

    def rss_kib(self) -> int:
        """Resident set size in KiB (``VmRSS`` of ``/proc/PID/status``)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS line in /proc/PID/status")

    def open_fds(self) -> int:
        """How many file descriptors the server holds open (entries of ``/proc/PID/fd``)."""
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    async def settled_fds(self, *, at_most: int | None = None, timeout: float = 5.0) -> int:
        """Open descriptors once the server has noticed closed connections.

        Polls until the count is ``at_most`` or less (when given), or has not
        changed for 100 ms; after ``timeout`` seconds returns the count as it is.
        """
        deadline = time.monotonic() + timeout
        readings = [self.open_fds()]
        while time.monotonic() < deadline:
            if at_most is not None and readings[-1] <= at_most:
                break
            if at_most is None and len(readings) >= 5 and len(set(readings[-5:])) == 1:
                break
            await asyncio.sleep(0.02)
            readings.append(self.open_fds())
        return readings[-1]

    def log_text(self) -> str:
        """Everything the server wrote to stdout and stderr so far."""
        return self.log.read_text(errors="replace")

    def signal(self, signum: int = signal.SIGTERM) -> None:
        """Send ``signum`` to the server (by pid)."""
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        """Wait for the server to exit; its exit status."""
        return self.process.wait(timeout=timeout)


@contextlib.contextmanager
def running_server(
    config: Path | None = None,
    *,
    log: Path,
    environ: Mapping[str, str] | None = None,
    python: str | os.PathLike[str] = sys.executable,
) -> Iterator[ServerProcess]:
    """Serve ``config`` (or the default configuration) on a free loopback port until the block ends.

    The server runs in ``config``'s folder (relative paths in it resolve
    there), with this environment minus any ``RUNTIME_REGISTRY_*`` variable
    (so an operator's settings never leak into a test) plus ``environ``.
    """
    port = free_port()
    arguments = ["--host", "127.0.0.1", "--port", str(port)]
    if config is not None:
        arguments += ["--config", str(config)]
    env = {key: value for key, value in os.environ.items() if not key.startswith("RUNTIME_REGISTRY_")}
    env.update(environ or {})
    cwd = config.parent if config is not None else None
    with (
        log.open("wb") as log_file,
        started(serve_command(*arguments, python=python), cwd=cwd, env=env, output=log_file) as process,
    ):
        wait_until_healthy(process, port, log=log)
        yield ServerProcess(f"http://127.0.0.1:{port}", process, log)
