"""The SQLite store's faults: bad files are refused untouched, full disks refuse writes and recover."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from pathlib import Path

import pytest

from registry_core import RuntimeStatus, unstructure
from registry_core.errors import RuntimeUnavailable
from runtime_registry.runtimes.embedded.settings import Durability
from runtime_registry.runtimes.embedded.sqlite_schema import SCHEMA_VERSION
from runtime_registry.testing.conformance import find_path_like
from tests.embedded.durable import (
    all_events,
    create,
    durable_settings,
    send,
    started,
    store_file,
    transcript,
    until_idle,
)
from tests.support.small_filesystem import small_filesystem

V1_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "embedded_store" / "v1.sql"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def assert_unusable(data_dir: Path, words: str) -> None:
    """The runtime is unavailable with a store_unusable diagnostic naming ``words``, and leaks no path."""
    provider = await started(data_dir)
    state = await provider.describe()
    assert state.status is RuntimeStatus.UNAVAILABLE
    [diagnostic] = state.diagnostics
    assert diagnostic.code == "store_unusable" and words in diagnostic.message
    assert str(data_dir) not in diagnostic.message and find_path_like(unstructure(state)) == []
    with pytest.raises(RuntimeUnavailable):
        await provider.list_workers(limit=1, cursor=None)
    with pytest.raises(RuntimeUnavailable):
        await create(provider)
    await provider.close()


async def make_store(data_dir: Path) -> None:
    provider = await started(data_dir)
    worker = await create(provider, "echo-now")
    for number in range(50):
        await send(provider, worker, f"entry {number} " + "x" * 200)
        await until_idle(provider, worker)
    await provider.close()


async def test_a_file_that_is_not_sqlite_is_refused_and_left_untouched(tmp_path):
    path = store_file(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"these are somebody's notes, not a database\n" * 100)
    before = digest(path)
    await assert_unusable(tmp_path, "not a SQLite database")
    assert digest(path) == before


async def test_a_foreign_sqlite_database_is_refused_and_left_untouched(tmp_path):
    path = store_file(tmp_path)
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        connection.execute("INSERT INTO invoices (total) VALUES (12.5)")
    connection.close()
    before = digest(path)
    await assert_unusable(tmp_path, "another program")
    assert digest(path) == before


async def test_a_truncated_file_is_refused_and_left_untouched(tmp_path):
    await make_store(tmp_path)
    path = store_file(tmp_path)
    assert not path.with_name(path.name + "-wal").exists() or path.with_name(path.name + "-wal").stat().st_size == 0
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    before = digest(path)
    await assert_unusable(tmp_path, "truncated")
    assert digest(path) == before


async def test_a_damaged_file_is_refused_and_left_untouched(tmp_path):
    await make_store(tmp_path)
    path = store_file(tmp_path)
    data = bytearray(path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    for page in range(1, len(data) // page_size):  # every page but the header's: b-tree headers garbled
        data[page * page_size : page * page_size + 16] = b"\xff" * 16
    path.write_bytes(bytes(data))
    before = digest(path)
    await assert_unusable(tmp_path, "damaged")
    assert digest(path) == before


async def test_a_file_of_a_newer_schema_is_refused_and_left_untouched(tmp_path):
    await make_store(tmp_path)
    path = store_file(tmp_path)
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    connection.close()
    before = digest(path)
    await assert_unusable(tmp_path, "newer version")
    assert digest(path) == before


async def test_a_file_in_use_by_another_runtime_is_refused(tmp_path):
    first = await started(tmp_path)
    await create(first)
    await assert_unusable(tmp_path, "in use")
    await create(first)  # the first runtime is unaffected
    await first.close()
    again = await started(tmp_path)  # released at close
    assert len((await again.list_workers(limit=10, cursor=None)).items) == 2
    await again.close()


async def test_a_version_1_store_is_migrated_forward(tmp_path):
    path = store_file(tmp_path)
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as connection:
        connection.executescript(V1_FIXTURE.read_text())
    connection.close()

    provider = await started(tmp_path)
    assert (await provider.describe()).status is RuntimeStatus.RUNNING
    workers = (await provider.list_workers(limit=10, cursor=None)).items
    assert [(w.worker_id, w.status, w.transcript_length, w.label) for w in workers] == [
        ("w-60a24181e4000aaaaaaaa", "idle", 2, "first"),
        ("w-60a24181e4002cccccccc", "stopped", 0, None),
    ]
    assert workers[1].intent.purpose == "sort"
    entries = await transcript(provider, "w-60a24181e4000aaaaaaaa")
    assert [(e.sequence, e.role, e.content) for e in entries] == [
        (1, "user", "hello from v1"),
        (2, "assistant", "hello from v1"),
    ]
    events, cursor = await all_events(provider)
    assert [e.id for e in events] == list(range(1700000000000000, 1700000000000010))
    fresh = await create(provider)
    assert fresh.startswith("w-60a24181e4003")  # serials continue after the deleted ...001
    assert (await provider.read_events(cursor=cursor, limit=1)).events[0].id == 1700000000000010
    await provider.close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        assert connection.execute("SELECT entries FROM worker_state ORDER BY serial").fetchall() == [(2,), (0,), (0,)]
    connection.close()


async def disk_full(provider) -> None:
    """Make the store's file unable to grow (SQLite's own "database or disk is full" path)."""
    pages = provider.runtime.store._reader.execute("PRAGMA page_count").fetchone()[0]
    provider.runtime.store.inject_statement(f"PRAGMA max_page_count = {pages}")


async def space_returns(provider) -> None:
    provider.runtime.store.inject_statement("PRAGMA max_page_count = 1073741823")


@pytest.mark.parametrize("durability", list(Durability))
async def test_a_full_disk_refuses_writes_keeps_reads_and_recovers_by_itself(tmp_path, durability):
    provider = await started(tmp_path, durable_settings(durability))
    worker = await create(provider, "echo-now")
    await send(provider, worker, "before")
    await until_idle(provider, worker)
    await disk_full(provider)
    big = "y" * 60_000
    # Writes fail once the file must grow: the first that does is refused (acknowledged) or
    # answered and kept in memory (batched); afterwards every write is refused.
    async with asyncio.timeout(5):
        while True:
            try:
                other = await create(provider, label=big[:100])
                await send(provider, other, big)
            except RuntimeUnavailable as refused:
                assert "cannot write" in str(refused)
                break
            await asyncio.sleep(0.06)
    state = await provider.describe()
    assert state.status is RuntimeStatus.DEGRADED
    assert [d.code for d in state.diagnostics] == ["store_write_failed"]
    assert find_path_like(unstructure(state)) == [] and str(tmp_path) not in state.diagnostics[0].message
    with pytest.raises(RuntimeUnavailable):
        await create(provider)
    with pytest.raises(RuntimeUnavailable):
        await send(provider, worker, "refused")
    # Reads keep working.
    assert [e.content for e in await transcript(provider, worker)] == ["before", "before"]
    listed = (await provider.list_workers(limit=100, cursor=None)).items
    await all_events(provider)

    await space_returns(provider)
    async with asyncio.timeout(5):
        while (await provider.describe()).status is not RuntimeStatus.RUNNING:
            await asyncio.sleep(0.05)
    await send(provider, worker, "after")
    await until_idle(provider, worker)
    await provider.close()

    reopened = await started(tmp_path, durable_settings(durability))
    # Everything that was answered (and accepted in memory) is in the file.
    assert [w.worker_id for w in (await reopened.list_workers(limit=100, cursor=None)).items] == [
        w.worker_id for w in listed
    ]
    assert [e.content for e in await transcript(reopened, worker)] == ["before", "before", "after", "after"]
    await reopened.close()


async def test_a_store_whose_rows_break_the_invariants_is_refused_untouched(tmp_path):
    await make_store(tmp_path)
    path = store_file(tmp_path)
    with sqlite3.connect(path) as connection:
        # A gap in the retained events: no run of the runtime writes that.
        connection.execute("DELETE FROM events WHERE id = (SELECT min(id) + 3 FROM events)")
    connection.close()
    before = digest(path)
    await assert_unusable(tmp_path, "inconsistent")
    assert digest(path) == before


async def test_a_read_only_store_refuses_writes_and_recovers_by_itself(tmp_path):
    provider = await started(tmp_path)
    worker = await create(provider)
    # SQLite's own read-only path (SQLITE_READONLY), as for a file made read-only under it.
    provider.runtime.store.inject_statement("PRAGMA query_only = 1")
    with pytest.raises(RuntimeUnavailable):
        await send(provider, worker, "not acknowledged")  # its commit fails: the answer is a 503
    state = await provider.describe()
    assert state.status is RuntimeStatus.DEGRADED and "SQLITE_READONLY" in state.diagnostics[0].message
    with pytest.raises(RuntimeUnavailable):
        await create(provider)
    # Kept, to be committed; readers see committed entries only (decision 0111), so not yet.
    assert [e.content for e in await transcript(provider, worker)] == []
    provider.runtime.store.inject_statement("PRAGMA query_only = 0")
    async with asyncio.timeout(5):
        while (await provider.describe()).status is not RuntimeStatus.RUNNING:
            await asyncio.sleep(0.05)
    await until_idle(provider, worker)
    assert [e.content for e in await transcript(provider, worker)][:1] == ["not acknowledged"]
    await send(provider, worker, "acknowledged")
    await provider.close()
    reopened = await started(tmp_path)
    assert [e.content for e in await transcript(reopened, worker)] == ["not acknowledged", "acknowledged"]
    await reopened.close()


async def test_a_read_only_filesystem_at_start_says_read_only_not_damaged(tmp_path):
    with small_filesystem(tmp_path / "fs", 8 * 1024 * 1024) as fs:
        await make_store(fs.path)
        path = store_file(fs.path)
        before = digest(path)
        fs.read_only()
        await assert_unusable(fs.path, "read-only")
        assert digest(path) == before


async def test_a_full_disk_at_start_says_full_not_damaged(tmp_path):
    with small_filesystem(tmp_path / "fs", 8 * 1024 * 1024) as fs:
        await make_store(fs.path)
        path = store_file(fs.path)
        before = digest(path)
        fs.fill()
        provider = await started(fs.path)
        state = await provider.describe()
        await provider.close()
        # Opening a WAL file maps its shared-memory file, which needs room (issue 24, point 2: it was "damaged").
        assert state.status is RuntimeStatus.UNAVAILABLE
        [diagnostic] = state.diagnostics
        assert "disk is full" in diagnostic.message and "damaged" not in diagnostic.message
        assert digest(path) == before


async def test_a_read_only_start_recovers_when_the_filesystem_becomes_writable(tmp_path):
    with small_filesystem(tmp_path / "fs", 8 * 1024 * 1024) as fs:
        await make_store(fs.path)
        fs.read_only()
        provider = await started(fs.path)
        try:
            state = await provider.describe()
            assert state.status is RuntimeStatus.UNAVAILABLE and "read-only" in state.diagnostics[0].message
            fs.writable()
            async with asyncio.timeout(10):
                while (await provider.describe()).status is not RuntimeStatus.RUNNING:
                    await asyncio.sleep(0.1)
            [worker] = [w.worker_id for w in (await provider.list_workers(limit=10, cursor=None)).items]
            await send(provider, worker, "after the remount")
            await until_idle(provider, worker)
            assert [e.content for e in await transcript(provider, worker)][-2:] == ["after the remount"] * 2
        finally:
            await provider.close()


async def test_a_second_runtime_on_the_file_takes_over_once_the_first_has_stopped(tmp_path):
    first = await started(tmp_path)
    worker = await create(first)
    second = await started(tmp_path)
    try:
        state = await second.describe()
        assert state.status is RuntimeStatus.UNAVAILABLE and "in use" in state.diagnostics[0].message
        await first.close()
        async with asyncio.timeout(10):
            while (await second.describe()).status is not RuntimeStatus.RUNNING:
                await asyncio.sleep(0.1)
        assert (await second.get_worker(worker)).worker_id == worker
    finally:
        await first.close()
        await second.close()
