"""What an operator configures for a ``subprocess`` runtime.

Example (in the registry's config file)::

    [[runtimes]]
    id = "shouter"
    kind = "subprocess"

    [runtimes.settings]
    command = ["python3", "-c", "import sys; print(sys.stdin.read().upper())"]
    timeout_seconds = 10
"""

from __future__ import annotations

from typing import Annotated

import attrs
from annotated_types import Ge, Gt, Interval, MinLen

__all__ = ["SubprocessSettings", "ENTRIES_PER_TURN"]

#: The most transcript entries one turn adds: the input, the output and one note.
ENTRIES_PER_TURN = 3

_PageMax = Annotated[int, Interval(ge=1, le=1000)]


@attrs.frozen
class SubprocessSettings:
    """The ``settings`` table of a ``subprocess`` runtime.

    :param command: the argv every turn runs, e.g. ``["python3", "-c", "..."]``.
        It is executed directly, never through a shell; the program is looked
        up on ``PATH``. The input is written to its stdin.
    :param environment: variables the command gets *in addition to* ``PATH``
        and ``LANG``. The server's own environment is not passed on: it may
        hold the API token.
    :param timeout_seconds: a turn still running after this long is killed.
    :param max_workers: the most workers the runtime holds (stopped ones count:
        workers are never deleted).
    :param max_output_chars: stdout beyond this many characters is dropped.
    :param max_input_chars: the longest input accepted.
    :param max_transcript_entries: a worker's transcript size limit.
    :param event_retention: how many events are kept for polling and resume.
    :param worker_page_max: the largest worker page a client may ask for.
    :param transcript_page_max: the largest transcript page.
    :param event_page_max: the largest event page.
    """

    # There is no sensible default command: a runtime without one is a
    # configuration error ("required field is missing"), not a silent echo.
    command: Annotated[tuple[Annotated[str, MinLen(1)], ...], MinLen(1)]
    environment: dict[str, str] = attrs.Factory(dict)
    timeout_seconds: Annotated[float, Gt(0)] = 30.0
    max_workers: Annotated[int, Ge(1)] = 100
    max_output_chars: Annotated[int, Ge(1)] = 65_536
    max_input_chars: Annotated[int, Ge(1)] = 65_536
    max_transcript_entries: Annotated[int, Ge(ENTRIES_PER_TURN)] = 1_000
    event_retention: Annotated[int, Ge(1)] = 1_000
    worker_page_max: _PageMax = 100
    transcript_page_max: _PageMax = 100
    event_page_max: _PageMax = 100

    def __attrs_post_init__(self) -> None:
        # exec() cannot pass a NUL byte, and a variable name cannot hold '='
        # or be empty; refuse these at startup rather than at the first turn.
        if any("\0" in argument for argument in self.command):
            raise ValueError("command: arguments must not contain NUL characters")
        for name, value in self.environment.items():
            if not name or "=" in name or "\0" in name or "\0" in value:
                raise ValueError("environment: names must be non-empty, without '=' or NUL; values without NUL")
