"""Failed bearer-token guesses, paced per client (issue 24, point 11).

Without a bound, one connection could try about 1,000 tokens a second. A
client (its address as the server sees it) may fail :data:`BURST` times at
once; after that its requests that present a token are checked at most
:data:`RATE_PER_SECOND` a second: each waits for its turn *before* the token
is compared, so concurrent requests queue rather than guess in parallel. A
request whose turn is more than :data:`MAX_WAIT_SECONDS` away is answered
``429 too_many_requests`` at once, with ``Retry-After``, and its token is not
looked at. A correct token never waits while its client has no failures, and
a client that stops failing is forgotten once it is back under the burst.

The pacing is a generic cell rate algorithm (one number per client: the
theoretical time of its next allowed failure); the table is bounded, oldest
entries out first. Behind a proxy every client shares the proxy's address,
so the pace then holds for all of them together: a guesser slows everyone,
which is the price of not letting it guess (decision 0180).
"""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Callable

__all__ = ["BURST", "MAX_WAIT_SECONDS", "RATE_PER_SECOND", "TokenGuessPacer"]

#: Failures a client may have at once before it is paced.
BURST = 20
#: Token checks a second for a client past its burst.
RATE_PER_SECOND = 2.0
#: The longest a request waits for its turn; beyond it, 429 at once.
MAX_WAIT_SECONDS = 5.0
#: Clients remembered (each a float); the oldest go first.
TABLE_MAX = 4096


class TokenGuessPacer:
    """Per-client pacing of token checks after failures.

    :param clock: monotonic seconds (a parameter for tests).
    """

    def __init__(
        self,
        *,
        burst: int = BURST,
        rate_per_second: float = RATE_PER_SECOND,
        max_wait_seconds: float = MAX_WAIT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval = 1.0 / rate_per_second
        self._tolerance = (burst - 1) * self._interval
        self._max_wait = max_wait_seconds
        self._clock = clock
        # client -> the theoretical arrival time of its next failure
        self._next: collections.OrderedDict[str, float] = collections.OrderedDict()

    def turn(self, client: str) -> float | None:
        """Seconds this client's request must wait before its token is checked (0: at once); ``None``: refuse it now.

        A positive wait is a reserved turn: the caller waits, then checks.
        """
        due = self._next.get(client)
        if due is None:
            return 0.0
        now = self._clock()
        wait = due - self._tolerance - now
        if wait <= 0:
            return 0.0
        if wait > self._max_wait:
            return None
        # Reserve the turn, so that requests arriving together queue one behind another.
        self._next[client] = due + self._interval
        return wait

    def retry_after(self, client: str) -> int:
        """Whole seconds until this client's next turn (for ``Retry-After``)."""
        due = self._next.get(client)
        if due is None:
            return 0
        return max(1, math.ceil(due - self._tolerance - self._clock()))

    def failed(self, client: str) -> None:
        """Record a failed token check of ``client``."""
        now = self._clock()
        due = self._next.pop(client, now)
        self._next[client] = max(due, now) + self._interval
        if len(self._next) > TABLE_MAX:
            self._next.popitem(last=False)

    def succeeded(self, client: str) -> None:
        """A correct token: the client is forgotten once its failures fit the burst again."""
        due = self._next.get(client)
        if due is not None and due - self._tolerance <= self._clock():
            del self._next[client]
