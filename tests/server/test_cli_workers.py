"""``runtime-registry workers | events | send`` against a real server (a process on loopback), with a token."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time

import httpx
import pytest

from ..engines.openai_server import SECRET_BODY, openai_server
from ..reliability.app_config import EMBEDDED, SLOW_PROFILE, embedded_toml, write_config
from ..support.server_process import CLI, running_server
from ..support.tcp_proxy import TcpRelay

TOKEN = "cli-token-7c1e0a9b55"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def model_server():
    with openai_server() as running:
        yield running


@pytest.fixture(scope="module")
def server(tmp_path_factory, model_server):
    directory = tmp_path_factory.mktemp("cli-workers")
    model = (
        "[runtimes.settings.profiles.model]\n"
        f'engine = "llm"\nmodel = "local-model"\napi_base = "{model_server.base_url}"\nkey_env = "LOCAL_TEST_KEY"\n'
    )
    config = write_config(directory, embedded_toml(extra=model, slow_delay_seconds=60))
    environ = {"RUNTIME_REGISTRY_TOKEN": TOKEN, "LOCAL_TEST_KEY": "sk-local-test"}
    with running_server(config, log=directory / "server.log", environ=environ) as served:
        yield served


def environment(server) -> dict[str, str]:
    return {**os.environ, "RUNTIME_REGISTRY_URL": server.base_url, "RUNTIME_REGISTRY_TOKEN": TOKEN}


def cli(server, *arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-c", CLI, *arguments],
        env=env if env is not None else environment(server),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert TOKEN not in result.stdout + result.stderr
    return result


def create(server, profile: str = "echo", label: str | None = None) -> str:
    body = {"profile": profile} | ({"label": label} if label else {})
    response = httpx.post(f"{server.base_url}/api/runtimes/{EMBEDDED}/workers", json=body, headers=AUTH)
    assert response.status_code == 201, response.text
    return response.json()["worker_id"]


def test_workers_prints_a_table_of_every_runtime_or_one(server):
    first, second = create(server, label="first one"), create(server)
    listed = cli(server, "workers")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["RUNTIME", "WORKER", "STATUS", "PROFILE", "CREATED", "LABEL"]
    mine = [row for row in rows if first in row or second in row]
    assert len(mine) == 2 and all(row.split()[0] == EMBEDDED and row.split()[2] == "idle" for row in mine)
    assert any(row.endswith("first one") for row in mine)
    one = cli(server, "workers", EMBEDDED)
    assert one.returncode == 0 and first in one.stdout


def test_url_and_token_come_from_options_too_and_a_wrong_token_is_one_line(server):
    env = {key: value for key, value in os.environ.items() if not key.startswith("RUNTIME_REGISTRY_")}
    ok = cli(server, "workers", "--url", server.base_url, "--token", TOKEN, env=env)
    assert ok.returncode == 0, ok.stderr
    refused = cli(server, "workers", "--url", server.base_url, "--token", "wrong-token-value", env=env)
    assert refused.returncode == 2
    assert refused.stderr.startswith("runtime-registry: unauthorized:") and refused.stderr.count("\n") == 1
    assert "wrong-token-value" not in refused.stderr
    unreachable = cli(server, "workers", "--url", "http://127.0.0.1:9", env=env)
    assert unreachable.returncode == 5 and "127.0.0.1:9" not in unreachable.stderr


def test_send_prints_the_reply_and_exits_by_how_the_turn_ended(server):
    worker_id = create(server, profile="model")
    completed = cli(server, "send", EMBEDDED, worker_id, "hello there")
    assert (completed.returncode, completed.stdout) == (0, "echo: hello there\n"), completed.stderr

    failed = cli(server, "send", EMBEDDED, worker_id, "status:500")
    assert failed.returncode == 1
    assert "the turn failed: provider_error" in failed.stderr and SECRET_BODY not in failed.stdout + failed.stderr

    echo = create(server)
    assert cli(server, "send", EMBEDDED, echo, "plain echo").stdout == "plain echo\n"


def test_send_exits_3_when_the_turn_is_cancelled_and_2_when_the_worker_is_busy(server):
    worker_id = create(server, profile=SLOW_PROFILE)
    sending = subprocess.Popen(
        [sys.executable, "-c", CLI, "send", EMBEDDED, worker_id, "slowly"],
        env=environment(server),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    path = f"{server.base_url}/api/runtimes/{EMBEDDED}/workers/{worker_id}"
    deadline = time.monotonic() + 30
    while httpx.get(path, headers=AUTH).json()["status"] != "busy":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    busy = cli(server, "send", EMBEDDED, worker_id, "again")
    assert busy.returncode == 2 and "worker_busy" in busy.stderr
    threading.Timer(0.3, lambda: httpx.post(f"{path}/cancel", headers=AUTH)).start()
    _out, err = sending.communicate(timeout=60)
    assert sending.returncode == 3, err
    assert "the turn was cancelled" in err


def test_events_prints_one_line_per_event(server):
    worker_id = create(server, label="events")
    listed = cli(server, "events", EMBEDDED)
    assert listed.returncode == 0
    line = next(line for line in listed.stdout.splitlines() if worker_id in line and "worker.created" in line)
    event_id, event_type, worker, data = line.split(" ", 3)
    assert event_id.isdigit() and (event_type, worker) == ("worker.created", worker_id)
    assert data.startswith("{")


async def test_events_follow_goes_on_after_a_dropped_connection(server):
    async with TcpRelay(int(server.base_url.rsplit(":", 1)[1])) as relay:
        env = environment(server) | {"RUNTIME_REGISTRY_URL": relay.base_url}
        follower = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CLI, "events", EMBEDDED, "--follow", env=env, stdout=asyncio.subprocess.PIPE
        )
        try:

            async def line_with(text: str) -> str:
                async with asyncio.timeout(30):
                    while True:
                        line = (await follower.stdout.readline()).decode()
                        assert line, "the follower ended"
                        if text in line:
                            return line

            async with httpx.AsyncClient(base_url=server.base_url, headers=AUTH) as client:
                before = (await client.post(f"/api/runtimes/{EMBEDDED}/workers", json={})).json()["worker_id"]
                await line_with(before)
                relay.drop()
                after = (await client.post(f"/api/runtimes/{EMBEDDED}/workers", json={})).json()["worker_id"]
                await line_with(after)
            assert relay.accepted >= 2
        finally:
            follower.terminate()
            await follower.wait()
