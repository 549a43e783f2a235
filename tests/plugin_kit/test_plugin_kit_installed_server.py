"""End to end: the example plugin, pip-installed into a fresh venv, served by the real server, driven over HTTP."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

from runtime_registry.testing.conformance import find_path_like

from .installed_plugin import create_plugin_environment, run_cli, running_server

pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("runtime_registry.server.cli") is None,
        reason="the runtime-registry CLI (server/cli/) does not exist yet",
    ),
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process checks read /proc"),
]

UPPERCASE = "import sys; print(sys.stdin.read().upper())"
#: Writes its pid to the file named by argv[1] (atomically), then sleeps until killed.
SLEEPER = (
    "import os, sys, time; open(sys.argv[1] + '.tmp', 'w').write(str(os.getpid())); "
    "os.rename(sys.argv[1] + '.tmp', sys.argv[1]); time.sleep(60)"
)


def write_config(directory: Path) -> Path:
    """Two runtimes of the plugin's kind: one that shouts back, one that sleeps (for busy and cancel)."""
    shout = json.dumps([sys.executable, "-c", UPPERCASE])
    sleep = json.dumps([sys.executable, "-c", SLEEPER, str(directory / "sleeper.pid")])
    config = directory / "registry.toml"
    config.write_text(
        "[[runtimes]]\n"
        'id = "shouter"\nkind = "subprocess"\ndisplay_name = "Shouter"\n'
        f"settings = {{ command = {shout}, timeout_seconds = 10 }}\n\n"
        "[[runtimes]]\n"
        'id = "sleeper"\nkind = "subprocess"\n'
        f"settings = {{ command = {sleep} }}\n"
    )
    return config


@pytest.fixture(scope="module")
def plugin_python(tmp_path_factory) -> Path:
    try:
        importlib.metadata.distribution("runtime-registry")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("runtime-registry is not installed in this environment")
    return create_plugin_environment(tmp_path_factory.mktemp("plugin-env"))


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> Path:
    """The directory holding the config (and the sleeper's pid file)."""
    directory = tmp_path_factory.mktemp("deployment")
    write_config(directory)
    return directory


@pytest.fixture(scope="module")
def api(plugin_python, deployment):
    with running_server(plugin_python, deployment / "registry.toml", log=deployment / "server.log") as (base_url, _):
        with httpx.Client(base_url=base_url, timeout=10) as client:
            yield client


def process_is_running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def eventually(check, *, timeout: float = 10):
    """Call ``check`` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.05)
    raise AssertionError("the condition did not hold in time")


def create_worker(api: httpx.Client, runtime_id: str) -> str:
    response = api.post(f"/api/runtimes/{runtime_id}/workers", json={"label": "end to end"})
    assert response.status_code == 201, response.text
    worker_id = response.json()["worker_id"]
    assert response.headers["location"].endswith(f"/api/runtimes/{runtime_id}/workers/{worker_id}")
    return worker_id


def start_sleeping(api: httpx.Client, deployment: Path) -> tuple[str, int]:
    """A sleeper worker in a turn; returns its id and its command's pid."""
    pid_file = deployment / "sleeper.pid"
    pid_file.unlink(missing_ok=True)
    worker_id = create_worker(api, "sleeper")
    assert api.post(f"/api/runtimes/sleeper/workers/{worker_id}/input", json={"content": "zzz"}).status_code == 202
    return worker_id, int(eventually(lambda: pid_file.exists() and pid_file.read_text()))


def test_the_cli_lists_the_installed_plugin_as_loaded(plugin_python, deployment):
    listed = run_cli(plugin_python, "plugins", cwd=deployment)
    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if "subprocess" in line)
    assert "0.1.0" in line and "loaded" in line


def test_the_cli_accepts_a_config_using_the_plugins_kind(plugin_python, deployment):
    checked = run_cli(plugin_python, "check-config", str(deployment / "registry.toml"), cwd=deployment)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_api_plugins_lists_the_plugin_loaded_with_its_version(api):
    plugins = {p["name"]: p for p in api.get("/api/plugins").json()["items"]}
    plugin = plugins["subprocess"]
    assert (plugin["version"], plugin["kinds"], plugin["state"]) == ("0.1.0", ["subprocess"], "loaded")


def test_the_plugins_runtimes_run_with_every_capability(api):
    runtimes = {r["runtime_id"]: r for r in api.get("/api/runtimes").json()["items"]}
    shouter = runtimes["shouter"]
    assert (shouter["kind"], shouter["display_name"], shouter["status"]) == ("subprocess", "Shouter", "running")
    assert shouter["plugin"] == {"name": "subprocess", "version": "0.1.0"}
    # Every capability but delete_worker and list_profiles, which the example kind leaves out (405: decisions 0065, 0141).
    assert {name for name, on in shouter["capabilities"].items() if not on} == {"delete_worker", "list_profiles"}


def test_input_comes_back_through_the_command_into_the_transcript(api):
    worker_id = create_worker(api, "shouter")
    accepted = api.post(f"/api/runtimes/shouter/workers/{worker_id}/input", json={"content": "hello, plugin"})
    assert accepted.status_code == 202
    assert accepted.json()["transcript_sequence"] == 1

    def assistant_entry():
        items = api.get(f"/api/runtimes/shouter/workers/{worker_id}/transcript").json()["items"]
        return next((item for item in items if item["role"] == "assistant"), None)

    assert eventually(assistant_entry)["content"] == "HELLO, PLUGIN"
    events = api.get(f"/api/runtimes/shouter/workers/{worker_id}/events").json()["events"]
    assert [e["type"] for e in events] == [
        "worker.created",
        "worker.input_accepted",
        "worker.turn_started",
        "worker.output",
        "worker.turn_completed",
    ]


def test_input_while_the_command_runs_is_409_busy(api, deployment):
    worker_id, _ = start_sleeping(api, deployment)
    refused = api.post(f"/api/runtimes/sleeper/workers/{worker_id}/input", json={"content": "again"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "worker_busy")
    api.post(f"/api/runtimes/sleeper/workers/{worker_id}/cancel")


def test_cancel_kills_the_command_and_leaves_the_worker_usable(api, deployment):
    worker_id, pid = start_sleeping(api, deployment)
    cancelled = api.post(f"/api/runtimes/sleeper/workers/{worker_id}/cancel")
    assert cancelled.status_code == 200
    assert (cancelled.json()["changed"], cancelled.json()["status"]) == (True, "idle")
    assert not process_is_running(pid)
    assert api.get(f"/api/runtimes/sleeper/workers/{worker_id}").json()["status"] == "idle"


def test_stop_is_final_and_idempotent(api):
    worker_id = create_worker(api, "shouter")
    stopped = api.post(f"/api/runtimes/shouter/workers/{worker_id}/stop")
    assert (stopped.status_code, stopped.json()["status"], stopped.json()["changed"]) == (200, "stopped", True)
    assert api.post(f"/api/runtimes/shouter/workers/{worker_id}/stop").json()["changed"] is False
    late = api.post(f"/api/runtimes/shouter/workers/{worker_id}/input", json={"content": "late"})
    assert (late.status_code, late.json()["error"]["code"]) == (409, "worker_stopped")


def test_a_worker_of_one_runtime_is_unknown_in_the_other(api):
    worker_id = create_worker(api, "shouter")
    response = api.get(f"/api/runtimes/sleeper/workers/{worker_id}")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "unknown_worker")


def test_nothing_served_looks_like_a_path(api):
    # The config is full of paths (the interpreter, the pid file); none may show.
    worker_id = create_worker(api, "sleeper")
    bodies = [
        api.get(path).json()
        for path in (
            "/api/plugins",
            "/api/runtimes",
            "/api/workers",
            "/api/runtimes/sleeper/workers",
            f"/api/runtimes/sleeper/workers/{worker_id}",
            "/api/runtimes/sleeper/events",
        )
    ]
    assert find_path_like(bodies) == []


def test_stopping_the_server_kills_running_commands(plugin_python, tmp_path):
    config = write_config(tmp_path)
    with running_server(plugin_python, config, log=tmp_path / "server.log") as (base_url, _):
        with httpx.Client(base_url=base_url, timeout=10) as client:
            _, pid = start_sleeping(client, tmp_path)
    try:
        eventually(lambda: not process_is_running(pid), timeout=5)
    finally:
        if process_is_running(pid):
            os.kill(pid, signal.SIGKILL)


def read_stream(api: httpx.Client, *, until_worker: str, **headers: str) -> list[dict]:
    """Events from the shouter's live stream, from the oldest (or after Last-Event-ID), until one of ``until_worker``."""
    events: list[dict] = []
    with api.stream("GET", "/api/runtimes/shouter/events/stream", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        current: dict = {}
        for line in response.iter_lines():
            if line.startswith("id:"):
                current["id"] = int(line[3:].strip())
            elif line.startswith("event:"):
                current["event"] = line[6:].strip()
            elif line.startswith("data:"):
                current["data"] = json.loads(line[5:].strip())
            elif line == "" and current:
                events.append(current)
                if current["data"].get("worker_id") == until_worker:
                    return events
                current = {}
    raise AssertionError("the stream ended before the worker's event")


def test_the_live_stream_carries_the_plugins_events_and_resumes(api):
    worker_id = create_worker(api, "shouter")
    streamed = read_stream(api, until_worker=worker_id)
    ids = [event["id"] for event in streamed]
    assert ids == sorted(set(ids))
    assert (streamed[-1]["event"], streamed[-1]["data"]["type"]) == ("worker.created", "worker.created")
    resumed = read_stream(api, until_worker=worker_id, **{"Last-Event-ID": str(ids[-1] - 1)})
    assert [event["id"] for event in resumed] == [ids[-1]]
