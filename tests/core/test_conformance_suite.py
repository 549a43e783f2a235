"""The conformance suite itself: it passes a correct provider and catches lying ones."""

from __future__ import annotations

import pytest

from registry_core import InputAccepted, InputRequest, RuntimeProvider, Worker
from registry_core.conformance import RuntimeConformance, find_path_like

from .fakes import NOW, MemoryProvider


class TestMemoryProviderConforms(RuntimeConformance):
    def make_provider(self, runtime_id: str) -> RuntimeProvider:
        return MemoryProvider(runtime_id)


class LeakyProvider(MemoryProvider):
    """Puts a socket path into worker labels."""

    async def get_worker(self, worker_id: str) -> Worker:
        worker = await super().get_worker(worker_id)
        return Worker(self.runtime_id, worker_id, self.kind, "/run/acme/w.sock", "idle", None, None, NOW, 0)


class ForgetfulProvider(MemoryProvider):
    """Accepts input for workers it does not have."""

    async def send_input(self, worker_id: str, request: InputRequest) -> InputAccepted:
        return InputAccepted(self.runtime_id, worker_id, 1, 1, "busy")


def test_suite_catches_a_path_in_a_label():
    suite = type("LeakySuite", (RuntimeConformance,), {"make_provider": lambda self, rid: LeakyProvider(rid)})()
    with pytest.raises(AssertionError):
        suite.test_nothing_returned_looks_like_a_path()


def test_suite_catches_input_accepted_for_an_unknown_worker():
    suite = type("ForgetfulSuite", (RuntimeConformance,), {"make_provider": lambda self, rid: ForgetfulProvider(rid)})()
    with pytest.raises(pytest.fail.Exception):
        suite.test_unknown_worker_is_a_typed_error()


@pytest.mark.parametrize(
    ("value", "leaks"),
    [("/srv/workspaces/alpha", True), ("x.sock", True), ("~/notes", True), ("w-1", False), ("1/2 done", False)],
)
def test_find_path_like(value, leaks):
    assert bool(find_path_like({"field": value})) is leaks
