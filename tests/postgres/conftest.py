"""Every test here runs against a real PostgreSQL server (tests/support/pg_server.py).

One server per session, so one per pytest-xdist worker; each test gets a
database of its own. Where no server can be made the tests are skipped on a
developer's machine, and FAIL in CI (``CI`` set): CI must run them
(tests/conftest.py also fails a CI session in which a ``postgres`` test was
skipped or none ran).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.pg_server import NO_SERVER, PgServer, PgUnavailable, throwaway_server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The session's PostgreSQL server (this xdist worker's own)."""
    try:
        with throwaway_server() as server:
            yield server
    except PgUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL tests, and no server could be started: {exc}")
        pytest.skip(f"{NO_SERVER}: {exc}")


@pytest.fixture
def pg_dsn(pg_server: PgServer) -> str:
    """The connection string of a new empty database on the session's server."""
    return pg_server.dsn(pg_server.create_database())
