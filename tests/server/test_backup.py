"""``runtime-registry backup``: a consistent copy of a live SQLite store, taken under load, that a server restores from."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import subprocess
import sys
import threading
import time

import httpx

from runtime_registry.server.cli import main

from ..reliability.app_config import EMBEDDED, embedded_toml, write_config
from ..support.server_process import CLI, running_server

STORE = f".runtime-registry/state/{EMBEDDED}.db"


class Load:
    """Clients creating workers and sending each one input, recording what the server acknowledged."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.workers: list[str] = []
        self.inputs: list[str] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(3)]

    def _run(self, n: int) -> None:
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            index = 0
            while not self.stopping.is_set():
                index += 1
                created = client.post(f"/api/runtimes/{EMBEDDED}/workers", json={"label": f"load-{n}-{index}"})
                if created.status_code != 201:
                    continue
                worker_id = created.json()["worker_id"]
                with self.lock:
                    self.workers.append(worker_id)
                sent = client.post(
                    f"/api/runtimes/{EMBEDDED}/workers/{worker_id}/input", json={"content": f"input {n} {index}"}
                )
                if sent.status_code == 202:
                    with self.lock:
                        self.inputs.append(worker_id)

    def acknowledged(self) -> tuple[set[str], set[str]]:
        with self.lock:
            return set(self.workers), set(self.inputs)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)


def test_a_backup_under_load_holds_everything_acknowledged_before_it_began_and_restores(tmp_path):
    config = write_config(tmp_path, embedded_toml())
    backup_dir = tmp_path / "backup"
    with running_server(config, log=tmp_path / "server.log") as served:
        with Load(served.base_url) as load:
            deadline = time.monotonic() + 30
            while len(load.acknowledged()[1]) < 20:
                assert time.monotonic() < deadline, "the load never got going"
                time.sleep(0.05)
            workers_before, inputs_before = load.acknowledged()
            result = subprocess.run(
                [sys.executable, "-c", CLI, "backup", "--config", str(config), str(backup_dir)],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=120,
            )
            time.sleep(0.2)  # the load goes on after the copy too
            workers_during, _ = load.acknowledged()
        assert result.returncode == 0, result.stderr
        assert f"{EMBEDDED} (embedded): {backup_dir / (EMBEDDED + '.db')}" in result.stdout
        assert len(workers_during) > len(workers_before), "the server kept serving while the backup ran"

    copy = backup_dir / f"{EMBEDDED}.db"
    with contextlib.closing(sqlite3.connect(copy)) as database:
        assert database.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = {row[0] for row in database.execute("SELECT worker_id FROM workers")}
        accepted = {
            row[0] for row in database.execute("SELECT worker_id FROM events WHERE type = 'worker.input_accepted'")
        }
    assert workers_before <= stored
    assert inputs_before <= accepted

    # Restore: the copy in place of the store, a server started on it serves what it holds.
    restored = tmp_path / "restored"
    (restored / ".runtime-registry" / "state").mkdir(parents=True)
    shutil.copy(copy, restored / STORE)
    restored_config = write_config(restored, embedded_toml())
    with running_server(restored_config, log=restored / "server.log") as served:
        with httpx.Client(base_url=served.base_url, timeout=10) as client:
            for worker_id in sorted(inputs_before)[:5]:
                transcript = client.get(f"/api/runtimes/{EMBEDDED}/workers/{worker_id}/transcript").json()
                assert transcript["items"][0]["content"].startswith("input ")


def test_a_backup_refuses_a_destination_with_files(tmp_path, capsys):
    (tmp_path / "keep").write_text("mine")
    assert main(["backup", str(tmp_path)]) == 2
    assert "not an empty directory" in capsys.readouterr().err


def test_a_memory_store_has_nothing_durable_and_a_store_never_opened_is_a_clear_failure(tmp_path, capsys):
    config = write_config(
        tmp_path,
        '[[runtimes]]\nid = "mem"\nkind = "embedded"\n[runtimes.settings.store]\nbackend = "memory"\n\n'
        '[[runtimes]]\nid = "disk"\nkind = "embedded"\n',
    )
    assert main(["backup", "--config", str(config), str(tmp_path / "out")]) == 1
    captured = capsys.readouterr()
    assert "mem (embedded): nothing durable (memory store)" in captured.out
    assert "disk: the backup failed: the store has no file yet" in captured.err
    assert str(tmp_path / ".runtime-registry") not in captured.err
