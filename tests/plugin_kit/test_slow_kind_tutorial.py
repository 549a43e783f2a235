"""docs/plugins.md's slow kind on the WorkerLifecycle block passes the whole suite, busy and cancel checks run."""

from __future__ import annotations

import re
from pathlib import Path

from registry_core import CreateWorkerRequest
from runtime_registry.testing import RuntimeConformance

TUTORIAL = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def slow_kind_source() -> str:
    (source,) = re.findall(r"^```python\n# a slow kind: acme_slow.py\n(.*?)^```", TUTORIAL.read_text(), re.M | re.S)
    return source


def slow_provider_type() -> type:
    namespace: dict = {}
    exec(compile(slow_kind_source(), "acme_slow.py", "exec"), namespace)
    return namespace["SlowProvider"]


SlowProvider = slow_provider_type()


def test_the_slow_kind_is_under_100_lines():
    assert len(slow_kind_source().splitlines()) < 100


class TestTheTutorialsSlowKindConforms(RuntimeConformance):
    contract_version = "0.3"

    def make_provider(self, runtime_id):
        return SlowProvider(runtime_id, seconds=0.3)

    def slow_turn_request(self):
        return CreateWorkerRequest()
