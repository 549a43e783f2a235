"""Schemathesis against our own ``/openapi.json``, on the real app, in process.

Every operation gets positive cases (valid per the schema) and negative ones
(each violating it somewhere), and every response is checked by all of
schemathesis' checks: no 5xx, status code documented, body matching the
documented schema, content type and headers as documented, negative data
rejected, positive data accepted. A stateful run chains operations through
the links schemathesis infers from the response schemas (a created worker's
id into detail, input, cancel, stop, transcript and events).

Bounded for the suite (derandomized, a fixed number of examples); the long
run is ``tests/benchmarks/fuzz_long.py``.
"""

from __future__ import annotations

import tempfile

import attrs
import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from schemathesis import GenerationMode

from runtime_registry.server.app import create_app

from .app_config import embedded_config
from .fuzz_checks import REFINED_CHECKS

#: The Host header of schemathesis' ASGI client (schemathesis.python.asgi.HOST).
SCHEMATHESIS_HOST = "testserver"
#: Examples per operation (positive and negative cases mixed); the long run uses far more.
EXAMPLES = 25
#: Seconds an ordinary call may take: generous, so a loaded machine never fails a correct answer.
CALL_TIMEOUT = 10.0
#: Seconds the event stream is read: it never ends by itself, so the call's timeout is what ends it.
STREAM_READ_SECONDS = 0.5
#: The one operation whose answer never ends by itself.
STREAM_PATH = "/api/runtimes/{runtime_id}/events/stream"


def timeout_for(case) -> float:
    """How long ``case``'s call may take: a stream is read for a moment, anything else gets a loaded machine's time."""
    return STREAM_READ_SECONDS if case.operation.path == STREAM_PATH else CALL_TIMEOUT


def fresh_app():
    """An app of its own per test: a lifespan ends with its test, and runtimes do not restart.

    Schemathesis' in-process client always sends ``Host: testserver``: the
    config allows that name, as an operator would list theirs (decision 0060).
    """
    config = embedded_config(
        max_workers=200,
        max_transcript_entries=50,
        event_retention=500,
        slow_delay_seconds=0.2,
        # batched: the contract is the same, without a disk sync per write (which doubled this test's time).
        extra='[runtimes.settings.store]\ndurability = "batched"\n',
    )
    # A data directory of its own: the runtime's SQLite store (the default) is one per file.
    data_dir = tempfile.mkdtemp(prefix="fuzz-data-")
    server = attrs.evolve(config.server, allowed_hosts=(SCHEMATHESIS_HOST,), data_dir=data_dir)
    return create_app(attrs.evolve(config, server=server))


schema = schemathesis.openapi.from_asgi("/openapi.json", fresh_app())
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=EXAMPLES, deterministic=True
)

SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def app():
    return fresh_app()


@schema.parametrize()
@SETTINGS
def test_every_operation_answers_as_documented(case, app):
    case.call_and_validate(app=app, timeout=timeout_for(case), **REFINED_CHECKS)


class LinkedOperations(schema.as_state_machine()):
    """Create, then use what create returned (links inferred from the response schemas)."""

    app = None

    def setup(self):
        # One app per generated program: each starts from an empty runtime.
        self.app = fresh_app()

    def call(self, case, **kwargs):
        return case.call(app=self.app, timeout=timeout_for(case), **kwargs)

    def validate_response(self, response, case, additional_checks=None, **kwargs):
        case.validate_response(response, **REFINED_CHECKS)


LinkedOperations.TestCase.settings = hypothesis.settings(SETTINGS, max_examples=15, stateful_step_count=8)
TestLinkedOperationsAnswerAsDocumented = LinkedOperations.TestCase
