"""The real server in a child process: ``runtime-registry serve`` on a free loopback port.

Reliability tests drive the server over real sockets, so what they measure is
what an operator runs: uvicorn, the lifespan, the CLI. The process is started
by the test and stopped by its pid (never by name), and its resource use is
read from ``/proc/PID`` (resident memory, open file descriptors).
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
from collections.abc import Iterator, Mapping
from pathlib import Path

import attrs
import httpx

#: What the ``runtime-registry`` console script runs, with this interpreter.
CLI = "import sys; from server.cli import main; sys.argv[0] = 'runtime-registry'; sys.exit(main())"

#: How long the server may take to answer ``/healthz`` after it was started.
STARTUP_TIMEOUT = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
    config: Path, *, log: Path, environ: Mapping[str, str] | None = None
) -> Iterator[ServerProcess]:
    """Serve ``config`` on a free loopback port until the block ends; then SIGTERM, and SIGKILL if it hangs."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("RUNTIME_REGISTRY_")}
    env.update(environ or {})
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-c", CLI, "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
            cwd=config.parent, stdout=log_file, stderr=subprocess.STDOUT, env=env,
        )
        server = ServerProcess(f"http://127.0.0.1:{port}", process, log)
        try:
            _wait_until_healthy(server)
            yield server
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _wait_until_healthy(server: ServerProcess) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"the server exited with {server.process.returncode}:\n{server.log_text()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{server.base_url}/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.05)
    raise AssertionError(f"the server did not become healthy in {STARTUP_TIMEOUT} s:\n{server.log_text()}")
