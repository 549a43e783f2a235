"""How plugin authors run the conformance suite: a subclass collected by plain pytest, or ``-p runtime_registry.testing.conformance``.

These run pytest on a plugin author's test file (with ``pytester``) and check
what the author sees: every check collected, read-only kinds skipping what
they cannot do with a reason, and a breach reported as a failure that names
the rule. The breach-by-breach tests are in ``test_conformance_breaches.py``.
"""

from __future__ import annotations

import sys

import pytest

from runtime_registry.testing.conformance import RuntimeConformance, find_path_like

pytest_plugins = ["pytester"]

#: The checks a subclass gets.
CHECKS = sorted(RuntimeConformance.check_names())

#: A plugin author's test module for a read-only kind: two fixed workers it
#: lists, shows and reads transcripts of; nothing else. ``LABEL`` is filled in.
READ_ONLY_KIND_TESTS = """
from datetime import datetime, timezone

from registry_core import RuntimeProvider, TranscriptPage, UnknownWorker, Worker, WorkerPage
from runtime_registry.testing import RuntimeConformance

CREATED = datetime(2026, 1, 1, tzinfo=timezone.utc)


class ArchiveProvider(RuntimeProvider):
    kind = "archive"

    def __init__(self, runtime_id):
        super().__init__(runtime_id)
        self.ids = ["archived-1", "archived-2"]

    def model(self, worker_id):
        return Worker(self.runtime_id, worker_id, self.kind, LABEL, "stopped", None, None, CREATED, 0)

    async def list_workers(self, *, limit, cursor):
        start = self.ids.index(cursor) + 1 if cursor else 0
        chosen = self.ids[start:start + limit]
        more = start + limit < len(self.ids)
        return WorkerPage(self.runtime_id, tuple(self.model(i) for i in chosen), chosen[-1] if more else None)

    async def get_worker(self, worker_id):
        if worker_id not in self.ids:
            raise UnknownWorker("no such worker")
        return self.model(worker_id)

    async def read_transcript(self, worker_id, *, start, limit):
        await self.get_worker(worker_id)
        return TranscriptPage(self.runtime_id, worker_id, (), start, limit, 0, None)


class TestArchiveConformance(RuntimeConformance):
    def make_provider(self, runtime_id):
        return ArchiveProvider(runtime_id)
"""


def author_tests(label: str) -> str:
    return f"LABEL = {label!r}\n" + READ_ONLY_KIND_TESTS


#: Options of every inner run: no cache, the author's usual pytest-asyncio setting, and none of
#: the heavy plugins this environment has installed that a plugin author would not (schemathesis
#: alone takes a second to import in a subprocess).
INNER_OPTIONS = (
    "-p",
    "no:cacheprovider",
    "-p",
    "no:schemathesis",
    "-p",
    "no:hypothesispytest",
    "-p",
    "no:anyio",
    "-o",
    "asyncio_default_fixture_loop_scope=function",
)


def run_author_tests(pytester: pytest.Pytester, label: str) -> dict[str, str]:
    """Run the author's module in-process; ``check name -> passed|failed|skipped``."""
    pytester.makepyfile(test_archive_conformance=author_tests(label))
    recorder = pytester.inline_run(*INNER_OPTIONS)
    return {
        report.nodeid.rsplit("::", 1)[-1]: report.outcome
        for report in recorder.getreports("pytest_runtest_logreport")
        if report.when == "call" or report.outcome != "passed"
    }


def test_subclassing_the_suite_collects_every_check(pytester):
    assert sorted(run_author_tests(pytester, "Archive")) == CHECKS


def test_a_conforming_read_only_kind_passes_what_it_supports_and_skips_the_rest(pytester):
    found = run_author_tests(pytester, "Archive")
    assert "failed" not in found.values()
    for check in (
        "test_summary_has_the_contract_shape",
        "test_false_capabilities_answer_unsupported",
        "test_listed_workers_are_valid_unique_and_complete",
        "test_unknown_worker_is_a_typed_error",
        "test_transcript_pages_are_gapless_and_bounded",
        "test_nothing_returned_looks_like_a_path",
    ):
        assert found[check] == "passed", check
    assert found["test_stop_is_final_and_idempotent"] == "skipped"


def test_a_skip_says_which_operation_the_kind_lacks(pytester):
    pytester.makepyfile(test_archive_conformance=author_tests("Archive"))
    result = pytester.runpytest_inprocess("-rs", *INNER_OPTIONS)
    result.stdout.fnmatch_lines(["SKIPPED*the kind does not read events*"])


def test_a_breach_fails_only_its_check(pytester):
    found = run_author_tests(pytester, "/srv/archive/w1")
    assert [name for name, outcome in found.items() if outcome == "failed"] == [
        "test_nothing_returned_looks_like_a_path"
    ]


def test_a_breach_is_reported_with_a_message_naming_the_rule(pytester):
    pytester.makepyfile(test_archive_conformance=author_tests("/srv/archive/w1"))
    result = pytester.runpytest_inprocess(*INNER_OPTIONS)
    result.stdout.fnmatch_lines(
        ["*ContractViolation: get_worker returned data must not contain paths*/srv/archive/w1*"]
    )


def test_an_authors_module_written_against_0_1_still_runs_every_check_with_a_deprecation_warning(pytester):
    old_import = author_tests("Archive").replace(
        "from runtime_registry.testing import RuntimeConformance",
        "from registry_core.conformance import RuntimeConformance",
    )
    assert "registry_core.conformance" in old_import
    pytester.makepyfile(test_archive_conformance=old_import)
    result = pytester.runpytest_subprocess("-W", "always::DeprecationWarning", *INNER_OPTIONS)
    result.stdout.fnmatch_lines(
        ["*DeprecationWarning: registry_core.conformance moved to runtime_registry.testing.conformance*"]
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes["passed"] + outcomes["skipped"] == len(CHECKS)


def test_loading_the_suite_as_a_pytest_plugin_names_it_in_the_header(pytester):
    pytester.makepyfile(test_archive_conformance=author_tests("Archive"))
    result = pytester.runpytest_subprocess("-p", "runtime_registry.testing.conformance", *INNER_OPTIONS)
    result.stdout.fnmatch_lines([f"runtime-registry conformance suite: {len(CHECKS)} checks"])
    assert result.ret == 0


def test_the_suite_still_fails_a_breach_under_python_optimizations(pytester):
    # Under python -O bare asserts vanish; the suite's checks must not.
    pytester.makepyfile(test_archive_conformance=author_tests("/srv/archive/w1"))
    result = pytester.run(sys.executable, "-O", "-m", "pytest", *INNER_OPTIONS, "-k", "looks_like_a_path")
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize(
    ("value", "leaks"),
    [
        ("/srv/workspaces/alpha", True),
        ("cannot open /etc/acme/key.pem", True),
        ("x.sock", True),
        ("~/notes", True),
        ("C:\\Users\\ops", True),
        ("\\\\fileserver\\share\\w1", True),
        ("file://host/share", True),
        ("path='/var/lib/x'", True),
        ("w-1", False),
        ("1/2 done", False),
        ("and/or", False),
        ("builtin:echo", False),
    ],
)
def test_find_path_like(value, leaks):
    assert bool(find_path_like({"field": value})) is leaks


def test_find_path_like_looks_inside_keys_and_nested_lists():
    assert find_path_like({"outer": [{"/srv/a/b": 1}, ("ok", "/run/x/y.sock")]}) == ["/srv/a/b", "/run/x/y.sock"]


def test_a_check_declared_with_a_capability_that_does_not_exist_is_refused_at_once():
    from runtime_registry.testing.conformance import conformance_check

    with pytest.raises(ValueError, match=r"names no capability: \['read_event'\]"):
        conformance_check(needs=("read_event",))


def test_the_path_detector_does_not_flag_what_the_client_sent():
    from runtime_registry.testing import find_path_like

    sent = "please keep /home/me/notes.txt in mind"
    echoed = {"content": sent, "reply": f"you said: {sent}"}
    assert find_path_like(echoed) == [sent, f"you said: {sent}"]
    assert find_path_like(echoed, sent=[sent]) == []


def test_a_path_next_to_what_the_client_sent_is_still_flagged():
    from runtime_registry.testing import find_path_like

    sent = "look at /home/me/notes.txt"
    reply = f"{sent}; I saved it to /srv/kind/state.db"
    assert find_path_like({"reply": reply}, sent=[sent, ""]) == [reply]
