"""Running the configured command once: input on stdin, bounded stdout back, nothing left running.

The command is executed directly (``asyncio.create_subprocess_exec``, never a
shell) in a new session, so it leads its own process group. Whatever happens
— normal exit, timeout, cancellation — the whole group is killed before
:func:`run_command` returns, so background children the command started end
with its turn.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import shutil
import signal
from collections.abc import Mapping, Sequence

import attrs

__all__ = ["CommandResult", "BoundedText", "run_command", "command_environment", "command_is_available"]

#: How much of stderr is kept. It is for the operator's log only: it often
#: names files and hosts, so it never reaches a transcript.
STDERR_KEPT_CHARS = 2_000

_READ_CHUNK_BYTES = 65_536


@attrs.frozen
class CommandResult:
    """How one run ended.

    :param exit_code: the exit status; negative for "killed by signal N"
        (as :attr:`asyncio.subprocess.Process.returncode`); ``None`` if it timed out.
    :param output: stdout, decoded as UTF-8 and cut at the output bound.
    :param truncated: whether stdout was longer than the bound.
    :param stderr: the start of stderr, for the operator's log.
    """

    exit_code: int | None
    output: str
    truncated: bool
    stderr: str

    @property
    def timed_out(self) -> bool:
        """Whether the command was killed for running past its timeout."""
        return self.exit_code is None


class BoundedText:
    """Collects a byte stream as UTF-8 text, keeping at most ``limit`` characters.

    Bytes past the limit are still accepted (and dropped) so that the process
    is never blocked on a full pipe.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._parts: list[str] = []
        self._length = 0
        self.truncated = False

    def feed(self, data: bytes, *, final: bool = False) -> None:
        """Add bytes; ``final`` flushes a trailing incomplete character."""
        if self.truncated:
            return
        text = self._decoder.decode(data, final)
        room = self._limit - self._length
        if len(text) > room:
            text, self.truncated = text[:room], True
        self._parts.append(text)
        self._length += len(text)

    def text(self) -> str:
        """Everything kept so far."""
        return "".join(self._parts)


def command_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment a command runs with: ``PATH`` and ``LANG`` of the server, plus ``extra``.

    Nothing else of the server's environment is passed on: it may hold the
    API token or cloud credentials, and a command could print them.
    """
    environment = {"PATH": os.environ.get("PATH", os.defpath)}
    if "LANG" in os.environ:
        environment["LANG"] = os.environ["LANG"]
    environment.update(extra)
    return environment


def command_is_available(argv: Sequence[str], environment: Mapping[str, str]) -> bool:
    """Whether ``argv[0]`` names an executable program (looked up on the command's ``PATH``)."""
    return shutil.which(argv[0], path=environment.get("PATH")) is not None


async def run_command(
    argv: Sequence[str],
    input_text: str,
    *,
    environment: Mapping[str, str],
    timeout: float,
    max_output_chars: int,
) -> CommandResult:
    """Run ``argv`` with ``input_text`` on stdin; return once it has exited and its process group was killed.

    The command itself is reaped before this returns; whatever it started got
    SIGKILL, which no process can ignore, and ends as soon as the kernel
    schedules it.

    :raises OSError: the command could not be started (not found, not executable).
    """
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(environment),
        start_new_session=True,
    )
    output, errors = BoundedText(max_output_chars), BoundedText(STDERR_KEPT_CHARS)
    pumps = asyncio.gather(
        _feed(process.stdin, input_text.encode("utf-8")),
        _collect(process.stdout, output),
        _collect(process.stderr, errors),
    )
    exit_code: int | None = None
    try:
        async with asyncio.timeout(timeout):
            exit_code = await process.wait()
            # The command is done; children it left behind are not part of
            # the turn, and killing them lets its pipes reach end-of-file.
            _kill_group(process.pid)
            await pumps
    except TimeoutError:
        exit_code = None
    finally:
        _kill_group(process.pid)
        pumps.cancel()
        await asyncio.wait([pumps])
        # Retrieve the outcome of the pumps we cancelled on purpose, or
        # asyncio logs "exception was never retrieved" for it.
        with contextlib.suppress(asyncio.CancelledError):
            pumps.exception()
        # Reap the process so nothing lingers as a zombie.
        await process.wait()
    return CommandResult(exit_code=exit_code, output=output.text(), truncated=output.truncated, stderr=errors.text())


async def _feed(stdin: asyncio.StreamWriter | None, data: bytes) -> None:
    """Write the input and close stdin; a command that exits without reading it is fine."""
    if stdin is None:
        return
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        stdin.write(data)
        await stdin.drain()
    stdin.close()


async def _collect(stream: asyncio.StreamReader | None, into: BoundedText) -> None:
    """Read ``stream`` to end-of-file into ``into``."""
    if stream is None:
        return
    while chunk := await stream.read(_READ_CHUNK_BYTES):
        into.feed(chunk)
    into.feed(b"", final=True)


def _kill_group(process_group: int) -> None:
    """SIGKILL every process of the group; a group that is already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process_group, signal.SIGKILL)
