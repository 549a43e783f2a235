"""Every test module, and every test, runs in its own empty working directory.

The default configuration keeps the embedded runtime's workers in a SQLite
store under ``.runtime-registry`` in the working directory (decision 0088): a
test that starts the default configuration must neither see another test's
workers nor leave files in the repository. Module-scoped fixtures (servers
shared by a module's tests) are set up before any function-scoped fixture,
hence the module-scoped directory too.

Hypothesis runs without its per-example deadline: a property test asserts
what the code does, and the suite runs two workers on a shared machine,
where an example that takes 400 ms once is load, not a finding.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("suite", deadline=None)
settings.load_profile("suite")


@pytest.fixture(autouse=True, scope="module")
def _module_working_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("module-cwd")
    previous = os.getcwd()
    os.chdir(directory)
    try:
        yield directory
    finally:
        os.chdir(previous)


@pytest.fixture(autouse=True)
def _own_working_directory(
    _module_working_directory: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    directory = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(directory)
    monkeypatch.delenv("RUNTIME_REGISTRY_DATA_DIR", raising=False)
    return directory


# -- CI must run the PostgreSQL tests (tests/postgres, marked ``postgres``) ------

#: Set by .ci/run: the session fails if a ``postgres`` test was skipped for want of a server, or none passed.
REQUIRE_POSTGRES = "RUNTIME_REGISTRY_REQUIRE_POSTGRES"
_postgres_reports = {"passed": 0, "skipped": 0}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Under pytest-xdist the controller sees every worker's reports here.
    if "postgres" not in report.keywords:
        return
    if report.skipped:
        from tests.support.pg_server import NO_SERVER

        # A skip for want of a server, not a conformance check that does not apply to the kind.
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if NO_SERVER in reason:
            _postgres_reports["skipped"] += 1
    elif report.when == "call" and report.passed:
        _postgres_reports["passed"] += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not os.environ.get(REQUIRE_POSTGRES) or hasattr(session.config, "workerinput"):
        return
    passed, skipped = _postgres_reports["passed"], _postgres_reports["skipped"]
    if skipped or not passed:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = f"{REQUIRE_POSTGRES}: {passed} PostgreSQL tests passed and {skipped} were skipped; all must run"
        if reporter is not None:
            reporter.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
