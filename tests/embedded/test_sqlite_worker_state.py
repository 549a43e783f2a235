"""Schema 7: each worker's hot state in ``worker_state``, what is written once in ``workers`` (decision 0197).

On a real file: the layout a new file gets, a file of schema 6 migrated
(everything it held comes back, and a failed migration leaves it at 6), and
a process killed right after its answers: the state it acknowledged is the
state a restart finds.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from registry_core import RuntimeStatus
from registry_core.models import WorkerTotals
from runtime_registry.runtimes.embedded.sqlite_schema import SCHEMA_VERSION
from tests.embedded.durable import create, send, started, store_file, transcript, until_idle

REPO = Path(__file__).resolve().parents[2]
COLD = ["serial", "worker_id", "label", "intent", "profile", "created_us", "tools"]
HOT = ["serial", "status", "turn_number", "entries", "status_since_us", "turns", "input_tokens", "output_tokens"]


def columns(connection: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in connection.execute(f"PRAGMA table_info({table})")]


def tables(connection: sqlite3.Connection) -> set[str]:
    return {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def states(path: Path) -> dict[str, tuple[object, ...]]:
    """worker id -> (status, turn, entries, turns, input tokens, output tokens), read from the file."""
    with sqlite3.connect(path) as connection:
        rows = connection.execute(
            "SELECT worker_id, status, turn_number, entries, turns, input_tokens, output_tokens"
            " FROM workers JOIN worker_state USING (serial)"
        ).fetchall()
    connection.close()
    return {row[0]: row[1:] for row in rows}


async def populate(data_dir: Path) -> tuple[dict[str, object], str]:
    """Three workers in different states (one with turns and totals, one stopped), one deleted; their views."""
    provider = await started(data_dir)
    echo = await create(provider, "echo-now", label="echo")
    stopped = await create(provider)
    deleted = await create(provider, "echo-now")
    for content in ("one", "two"):
        await send(provider, echo, content)
        await until_idle(provider, echo)
    await send(provider, deleted, "gone")
    await until_idle(provider, deleted)
    await provider.stop_worker(stopped)
    await provider.delete_worker(deleted)
    views = {w.worker_id: w for w in (await provider.list_workers(limit=10, cursor=None)).items}
    await provider.close()
    return views, echo


def make_schema_6(path: Path) -> None:
    """Turn a schema 7 file into the schema 6 layout: one ``workers`` table with the hot columns."""
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TABLE workers_v6 (serial INTEGER PRIMARY KEY, worker_id TEXT NOT NULL UNIQUE, label TEXT,"
            " intent TEXT NOT NULL, profile TEXT NOT NULL, created_us INTEGER NOT NULL, status TEXT NOT NULL,"
            " turn_number INTEGER NOT NULL, entries INTEGER NOT NULL DEFAULT 0, tools TEXT NOT NULL DEFAULT '[]',"
            " status_since_us INTEGER, turns INTEGER NOT NULL DEFAULT 0, input_tokens INTEGER NOT NULL DEFAULT 0,"
            " output_tokens INTEGER NOT NULL DEFAULT 0)"
        )
        connection.execute(
            "INSERT INTO workers_v6 SELECT serial, worker_id, label, intent, profile, created_us, status,"
            " turn_number, entries, tools, status_since_us, turns, input_tokens, output_tokens"
            " FROM workers JOIN worker_state USING (serial)"
        )
        connection.execute("DROP TABLE workers")
        connection.execute("DROP TABLE worker_state")
        connection.execute("ALTER TABLE workers_v6 RENAME TO workers")
        connection.execute("UPDATE schema_version SET version = 6")
        connection.execute("PRAGMA user_version = 6")
    connection.close()


async def test_a_new_file_keeps_the_hot_state_apart_one_row_per_live_worker(tmp_path):
    views, echo = await populate(tmp_path)
    path = store_file(tmp_path)
    with sqlite3.connect(path) as connection:
        assert columns(connection, "workers") == COLD
        assert columns(connection, "worker_state") == HOT
        assert connection.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)] == [(7,)]
        # The deleted worker left both tables; every other worker has exactly its one state row.
        assert [row[0] for row in connection.execute("SELECT serial FROM workers ORDER BY serial")] == [
            row[0] for row in connection.execute("SELECT serial FROM worker_state ORDER BY serial")
        ]
    connection.close()
    assert set(states(path)) == set(views)
    assert states(path)[echo] == ("idle", 2, 4, 2, views[echo].totals.input_tokens, views[echo].totals.output_tokens)
    again = await started(tmp_path)
    try:
        assert {w.worker_id: w for w in (await again.list_workers(limit=10, cursor=None)).items} == views
    finally:
        await again.close()


async def test_a_file_of_schema_6_is_migrated_with_every_worker_as_it_was(tmp_path):
    views, echo = await populate(tmp_path)
    path = store_file(tmp_path)
    with_state = states(path)
    make_schema_6(path)

    provider = await started(tmp_path)
    try:
        assert (await provider.describe()).status is RuntimeStatus.RUNNING
        assert {w.worker_id: w for w in (await provider.list_workers(limit=10, cursor=None)).items} == views
        assert [e.content for e in await transcript(provider, echo)] == ["one", "one", "two", "two"]
        # The migrated file keeps being written: a turn moves the state row.
        await send(provider, echo, "three")
        await until_idle(provider, echo)
        assert (await provider.get_worker(echo)).totals.turns == 3
    finally:
        await provider.close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT version FROM schema_version").fetchall() == [(7,)]
        assert connection.execute("PRAGMA user_version").fetchone() == (7,)
        assert columns(connection, "workers") == COLD
        assert tables(connection) >= {"workers", "worker_state"} and "workers_v7" not in tables(connection)
        # The worker id is still unique (the rebuilt table kept its constraint).
        serial, worker_id = connection.execute("SELECT serial, worker_id FROM workers LIMIT 1").fetchone()
        try:
            connection.execute(
                "INSERT INTO workers VALUES (?, ?, NULL, '{}', 'p', 0, '[]')", (serial + 1000, worker_id)
            )
            raise AssertionError("a second row with the same worker id was accepted")
        except sqlite3.IntegrityError:
            pass
    connection.close()
    after = states(path)
    assert {k: v for k, v in after.items() if k != echo} == {k: v for k, v in with_state.items() if k != echo}
    assert after[echo][:4] == ("idle", 3, 6, 3)


async def test_a_failed_migration_leaves_the_file_at_schema_6(tmp_path):
    views, _ = await populate(tmp_path)
    path = store_file(tmp_path)
    make_schema_6(path)
    with sqlite3.connect(path) as connection:
        # The migration fails half-way (after ``worker_state`` is made and filled, the rebuilt
        # table's name is taken): nothing of it may stay.
        connection.execute("CREATE TABLE workers_v7 (serial INTEGER PRIMARY KEY)")
    connection.close()

    provider = await started(tmp_path)
    assert (await provider.describe()).status is RuntimeStatus.UNAVAILABLE
    await provider.close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT version FROM schema_version").fetchall() == [(6,)]
        assert "status" in columns(connection, "workers") and "worker_state" not in tables(connection)
        connection.execute("DROP TABLE workers_v7")
    connection.close()
    # Once the obstacle is gone the same file migrates and loses nothing.
    provider = await started(tmp_path)
    try:
        assert {w.worker_id: w for w in (await provider.list_workers(limit=10, cursor=None)).items} == views
    finally:
        await provider.close()


_CHILD = textwrap.dedent(
    """
    import asyncio, json, sys
    from pathlib import Path
    from tests.embedded.durable import create, send, started, until_idle

    async def main():
        provider = await started(Path(sys.argv[1]))
        workers = [await create(provider, "echo-now") for _ in range(3)]
        for round_ in range(3):
            for index, worker in enumerate(workers[: round_ + 1]):
                await send(provider, worker, f"input {round_} {index}")
                await until_idle(provider, worker)
        views = {}
        for worker in workers:
            view = await provider.get_worker(worker)
            totals = view.totals
            views[worker] = [view.status, view.transcript_length, [totals.turns, totals.input_tokens, totals.output_tokens]]
        print(json.dumps(views), flush=True)
        await asyncio.sleep(3600)  # killed here, without a clean close

    asyncio.run(main())
    """
)


async def test_a_killed_process_comes_back_with_the_state_it_acknowledged(tmp_path):
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(tmp_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line, "the child ended before answering"
        acknowledged = json.loads(line)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    assert child.returncode == -signal.SIGKILL

    provider = await started(tmp_path)
    try:
        for worker_id, (status, length, totals) in acknowledged.items():
            view = await provider.get_worker(worker_id)
            assert (view.status, view.transcript_length, view.totals) == (status, length, WorkerTotals(*totals))
        lengths = sorted(length for _, length, _ in acknowledged.values())
        assert lengths == [2, 4, 6]
    finally:
        await provider.close()


async def test_a_worker_without_its_state_row_makes_the_file_refused_untouched(tmp_path):
    _, echo = await populate(tmp_path)
    path = store_file(tmp_path)
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute(
        "DELETE FROM worker_state WHERE serial = (SELECT serial FROM workers WHERE worker_id = ?)", (echo,)
    )
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the whole file in one place, for the digest
    connection.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()

    provider = await started(tmp_path)
    try:
        state = await provider.describe()
        # Refused as damaged, not started without that worker.
        assert state.status is RuntimeStatus.UNAVAILABLE
        [diagnostic] = state.diagnostics
        assert diagnostic.code == "store_unusable" and "damaged" in diagnostic.message
        assert str(tmp_path) not in diagnostic.message
    finally:
        await provider.close()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
