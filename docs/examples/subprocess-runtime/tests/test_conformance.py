"""runtime-registry's conformance suite, run against the subprocess kind."""

from __future__ import annotations

from processes import python_command
from subprocess_runtime import SubprocessProvider, SubprocessSettings

from registry_core import CreateWorkerRequest
from runtime_registry.testing import RuntimeConformance

#: Slow enough for the busy check (which needs turns of ~0.2 s or more).
SLOW_UPPERCASE = "import sys, time; text = sys.stdin.read(); time.sleep(0.3); print(text.upper())"


class TestSubprocessConformance(RuntimeConformance):
    contract_version = "0.3"

    def make_provider(self, runtime_id: str) -> SubprocessProvider:
        return SubprocessProvider(runtime_id, SubprocessSettings(command=python_command(SLOW_UPPERCASE)))

    def slow_turn_request(self) -> CreateWorkerRequest:
        # Every worker of this provider is slow: the command decides, not the request.
        return CreateWorkerRequest()
