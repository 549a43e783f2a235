"""The example third-party kind passes the conformance suite in our own CI, too."""

from __future__ import annotations

import sys

from subprocess_runtime import SubprocessProvider, SubprocessSettings

from registry_core import CreateWorkerRequest
from runtime_registry.testing.conformance import RuntimeConformance

#: Slow enough (0.3 s a turn) for the suite's busy check.
SLOW_UPPERCASE = "import sys, time; text = sys.stdin.read(); time.sleep(0.3); print(text.upper())"


class TestSubprocessKindConforms(RuntimeConformance):
    contract_version = "0.3"

    def make_provider(self, runtime_id: str) -> SubprocessProvider:
        return SubprocessProvider(runtime_id, SubprocessSettings(command=(sys.executable, "-c", SLOW_UPPERCASE)))

    def slow_turn_request(self) -> CreateWorkerRequest:
        # The command in the settings makes every turn slow, whatever the request.
        return CreateWorkerRequest()
