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
