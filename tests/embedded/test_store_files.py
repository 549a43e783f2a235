"""The SQLite store's files (issue 24, points 3, 6, 11 and 12), on real files.

- A damaged file is never written: whatever page is damaged, a runtime
  that refuses the file leaves its bytes as they were (hash compared).
- After a crash with the clock set back, event ids still go forward.
- Files are owner-only and the store's directory too, whatever existed.
- An empty (0-byte) store file is refused, never started empty.
- Events are stored as UTF-8 JSON, not ``\\u`` escapes.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from registry_core import RuntimeStatus
from runtime_registry.runtimes.embedded import sqlite_store
from runtime_registry.runtimes.embedded.settings import Durability
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

PAGE = 4096


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def make_store(data_dir: Path, durability: Durability = Durability.ACKNOWLEDGED) -> None:
    provider = await started(data_dir, durable_settings(durability))
    for number in range(3):
        worker = await create(provider, "echo-now", label=f"worker {number}")
        for turn in range(5):
            await send(provider, worker, f"entry {number}/{turn} " + "x" * 300)
            await until_idle(provider, worker)
    await provider.close()


async def _start_state(data_dir: Path):
    provider = await started(data_dir)
    state = await provider.describe()
    await provider.close()
    return state


async def test_whatever_page_is_damaged_a_refused_file_keeps_its_bytes(tmp_path):
    """Flip 32 bytes in the middle of each page in turn: a refusal never comes after a write."""
    await make_store(tmp_path)
    path = store_file(tmp_path)
    pristine = path.read_bytes()
    assert not path.with_name(path.name + "-wal").exists() or path.with_name(path.name + "-wal").stat().st_size == 0
    pages = len(pristine) // PAGE
    refused = []
    for page in range(pages):
        damaged = bytearray(pristine)
        middle = page * PAGE + PAGE // 2
        damaged[middle : middle + 32] = bytes(b ^ 0xFF for b in damaged[middle : middle + 32])
        path.write_bytes(bytes(damaged))
        before = digest(path)
        state = await _start_state(tmp_path)
        if state.status is RuntimeStatus.UNAVAILABLE:
            refused.append(page)
            assert digest(path) == before, f"page {page}: refused as damaged, but the file was written"
            assert "left untouched" in state.diagnostics[0].message
        for name in (path.name + "-wal", path.name + "-shm"):
            path.with_name(name).unlink(missing_ok=True)
    print(f"{pages} pages damaged one at a time: {len(refused)} refusals, every one left the file as it was")
    assert refused, "no damage was found at start: the test damaged nothing that is read"


@pytest.mark.parametrize(
    "damage",
    ["zeroed-second-page", "flipped-header-counters", "garbage-appended-then-truncated-half"],
)
async def test_other_damage_is_refused_untouched(tmp_path, damage):
    await make_store(tmp_path)
    path = store_file(tmp_path)
    data = bytearray(path.read_bytes())
    if damage == "zeroed-second-page":
        data[PAGE : 2 * PAGE] = bytes(PAGE)
    elif damage == "flipped-header-counters":
        data[28:32] = bytes(b ^ 0xFF for b in data[28:32])  # the page count
        data[56:60] = bytes(b ^ 0xFF for b in data[56:60])  # the text encoding
    else:
        data = data[: len(data) // 2] + b"garbage" * 100
    path.write_bytes(bytes(data))
    before = digest(path)
    state = await _start_state(tmp_path)
    if state.status is RuntimeStatus.UNAVAILABLE:
        assert digest(path) == before
    else:
        # Damage a start does not read is found when it is read; the start said nothing false.
        assert all("untouched" not in d.message for d in state.diagnostics)


async def test_an_empty_store_file_is_refused_not_started_empty(tmp_path):
    await make_store(tmp_path)
    path = store_file(tmp_path)
    path.write_bytes(b"")
    for name in (path.name + "-wal", path.name + "-shm"):
        path.with_name(name).unlink(missing_ok=True)
    state = await _start_state(tmp_path)
    assert state.status is RuntimeStatus.UNAVAILABLE
    assert "empty" in state.diagnostics[0].message
    assert path.stat().st_size == 0


async def test_a_new_store_is_built_aside_and_renamed_into_place(tmp_path):
    state = await _start_state(tmp_path)
    assert state.status is RuntimeStatus.RUNNING
    path = store_file(tmp_path)
    assert path.stat().st_size > 0
    assert not path.with_name(path.name + ".new").exists()


async def test_files_are_owner_only_and_the_directory_too_whatever_existed(tmp_path):
    old_umask = os.umask(0o022)
    try:
        path = store_file(tmp_path)
        path.parent.mkdir(parents=True, mode=0o755)
        os.chmod(path.parent, 0o755)
        await make_store(tmp_path)
        # An existing world-readable file (from an older version) is made private too.
        os.chmod(path, 0o644)
        provider = await started(tmp_path, durable_settings(Durability.BATCHED))
        worker = await create(provider)
        await send(provider, worker, "private")
        await until_idle(provider, worker)
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in path.parent.iterdir() if p.name.startswith(path.name)}
        directory_mode = stat.S_IMODE(path.parent.stat().st_mode)
        await provider.close()
    finally:
        os.umask(old_umask)
    assert directory_mode == 0o700
    assert {name: mode & 0o077 for name, mode in modes.items()} == dict.fromkeys(modes, 0), modes
    assert {path.name, path.name + "-wal", path.name + "-shm", path.name + ".lock"} <= set(modes)


async def test_event_ids_go_forward_after_a_crash_with_the_clock_set_back(tmp_path, monkeypatch):
    settings = durable_settings(Durability.BATCHED)
    first = await started(tmp_path, settings)
    worker = await create(first)
    await send(first, worker, "before the crash")
    await until_idle(first, worker)
    before, _ = await all_events(first)
    await first.close()
    with sqlite3.connect(store_file(tmp_path)) as connection:  # as if it had crashed
        connection.execute("UPDATE meta SET value = 0 WHERE key = 'closed_cleanly'")
    connection.close()

    real = sqlite_store.clock_start_id
    monkeypatch.setattr(sqlite_store, "clock_start_id", lambda: real() - 3600 * 1_000_000)  # an hour back
    second = await started(tmp_path, settings)
    await send(second, worker, "after the crash")
    await until_idle(second, worker)
    after, _ = await all_events(second)
    await second.close()
    assert after and min(event.id for event in after) > max(event.id for event in before)
    assert [e.content for e in await _transcript_after_restart(tmp_path, settings, worker)][-1] == "after the crash"


async def _transcript_after_restart(tmp_path, settings, worker):
    third = await started(tmp_path, settings)
    entries = await transcript(third, worker)
    await third.close()
    return entries


async def test_events_are_stored_as_utf8_json(tmp_path):
    provider = await started(tmp_path)
    worker = await create(provider, "echo-now")
    await send(provider, worker, "\U0001f600" * 100)
    await until_idle(provider, worker)
    await provider.close()
    with sqlite3.connect(store_file(tmp_path)) as connection:
        sizes = [row[0] for row in connection.execute("SELECT length(CAST(data AS BLOB)) FROM events")]
        texts = [row[0] for row in connection.execute("SELECT data FROM events")]
    connection.close()
    assert any("\U0001f600" * 100 in text for text in texts)
    # 100 emoji: 400 bytes as UTF-8, 1,200 as \\ud83d\\ude00 escapes.
    assert max(sizes) < 1000
