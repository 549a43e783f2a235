"""What the front knows of the remote's health, as the runtime's status and diagnostics.

Every exchange with the remote reports here: a summary read (the remote
runtime's own status and diagnostics), any answer at all (the remote is
reachable), or a fault (unreachable, slow, refusing the token...). The
runtime's status is the fault's while there is one, else the remote's.
"""

from __future__ import annotations

import time

from registry_core.models import Diagnostic, RuntimeState, RuntimeStatus
from runtime_registry.runtimes.remote.error_mapping import Fault

__all__ = ["NOT_YET_REACHED", "RemoteHealth"]

NOT_YET_REACHED = Diagnostic.info("remote_not_reached", "the remote server has not been reached yet")


class RemoteHealth:
    """The last word on the remote: its runtime's state, or the fault of the last failed exchange."""

    def __init__(self) -> None:
        self._remote = RuntimeState(RuntimeStatus.UNAVAILABLE, (NOT_YET_REACHED,))
        self._fault: Fault | None = None
        #: ``time.monotonic()`` of the last exchange that went wrong (``None``: none yet).
        self.faulted_at: float | None = None

    @property
    def fault(self) -> Fault | None:
        """The fault of the last exchange, if it failed."""
        return self._fault

    def summarised(self, state: RuntimeState) -> None:
        """The remote answered with its runtime's summary: that is the state now."""
        self._remote = state
        self._fault = None

    def answered(self) -> None:
        """The remote answered (with data or a typed refusal): whatever was wrong with the link is over."""
        self._fault = None

    def failed(self, fault: Fault) -> None:
        """An exchange failed in a way that says something about the remote."""
        self._fault = fault
        self.faulted_at = time.monotonic()

    def state(self) -> RuntimeState:
        """The runtime's status and diagnostics as clients should see them now."""
        if self._fault is not None:
            return RuntimeState(self._fault.status, (self._fault.diagnostic,))
        return self._remote
