"""The remote server killed, restarted, hanging, answering garbage, or refusing the token — with real processes.

Each test runs its own back server and a front server whose runtime ``gpu``
fronts it. The front answers ``503``/``504`` within its call timeout, shows
why in the runtime's diagnostics, recovers by itself, and never shows the
remote's URL, port or token (nor logs them above debug).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ..support.canned_http import CannedServer, answer, envelope_answer
from ..support.remote_servers import back_config, front_config, server_on_port, stopped_process
from ..support.server_process import ServerProcess, free_port, running_server

TOKEN = "fault-test-back-token-5c1d"
TOKEN_ENV = "FAULT_TEST_BACK_TOKEN"
#: The front's bound on one call to the remote, and its own call timeout (the 504 must come before it).
REMOTE_TIMEOUT = 1.0
CALL_TIMEOUT = 4.0


@contextlib.contextmanager
def front_over(
    folder: Path, url: str, *, token: str | None = None, token_env: str | None = None
) -> Iterator[ServerProcess]:
    config = front_config(
        folder,
        [("gpu", url, "back-a")],
        token_env=token_env,
        timeout_seconds=REMOTE_TIMEOUT,
        call_timeout_seconds=CALL_TIMEOUT,
        refresh_seconds=0.5,
    )
    environ = {TOKEN_ENV: token} if token is not None else {}
    with running_server(config, log=folder / "front.log", environ=environ) as front:
        yield front


def secrets_of(url: str) -> list[str]:
    return [url, url.removeprefix("http://"), ":" + url.rsplit(":", 1)[1], TOKEN]


def assert_hides(text: str, url: str) -> None:
    for secret in secrets_of(url):
        assert secret not in text, f"{secret!r} leaked"


async def summary(front: ServerProcess) -> dict:
    async with httpx.AsyncClient(base_url=front.base_url, timeout=30) as raw:
        return (await raw.get("/api/runtimes/gpu")).json()


async def until_status(front: ServerProcess, status: str, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = await summary(front)
        if body["status"] == status or time.monotonic() > deadline:
            assert body["status"] == status, body
            return body
        await asyncio.sleep(0.2)


async def timed(call) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await call
    return response, time.monotonic() - started


async def test_a_killed_remote_is_unavailable_503_with_a_diagnostic(tmp_path):
    with (
        running_server(back_config(tmp_path), log=tmp_path / "back.log") as back,
        front_over(tmp_path, back.base_url) as front,
    ):
        async with httpx.AsyncClient(base_url=front.base_url, timeout=30) as raw:
            worker = (await raw.post("/api/runtimes/gpu/workers", json={})).json()["worker_id"]
            back.process.kill()
            back.process.wait()
            response, took = await timed(raw.get(f"/api/runtimes/gpu/workers/{worker}"))
            assert response.status_code == 503 and response.json()["error"]["code"] == "runtime_unavailable"
            assert took < CALL_TIMEOUT
            assert_hides(response.text, back.base_url)
        body = await until_status(front, "unavailable")
        assert [d["code"] for d in body["diagnostics"]] == ["remote_unreachable"]
        assert_hides(str(body), back.base_url)
        assert_hides(front.log_text(), back.base_url)


@pytest.mark.parametrize("store", ["memory", "sqlite"])
async def test_a_restarted_remote_is_used_again_and_seen_exactly_as_it_says(tmp_path, store):
    port = free_port()
    config = back_config(tmp_path, store=store)
    url = f"http://127.0.0.1:{port}"
    with front_over(tmp_path, url) as front:
        async with (
            httpx.AsyncClient(base_url=front.base_url, timeout=30) as raw,
            httpx.AsyncClient(base_url=url, timeout=30) as direct,
        ):
            with server_on_port(port, config, log=tmp_path / "back.log"):
                await until_status(front, "running")
                worker = (await raw.post("/api/runtimes/gpu/workers", json={})).json()["worker_id"]
                cursor = (await raw.get("/api/runtimes/gpu/events")).json()["next_cursor"]
            down = await raw.get(f"/api/runtimes/gpu/workers/{worker}")
            assert down.status_code == 503
            with server_on_port(port, config, log=tmp_path / "back.log"):
                await until_status(front, "running")  # recovered by itself
                # The front answers what the restarted remote answers.
                for path, params in ((f"/workers/{worker}", {}), ("/events", {"cursor": cursor})):
                    through = await raw.get("/api/runtimes/gpu" + path, params=params)
                    remote = await direct.get("/api/runtimes/back-a" + path, params=params)
                    assert through.status_code == remote.status_code
                    if remote.status_code >= 400:
                        assert through.json()["error"]["code"] == remote.json()["error"]["code"]
                    else:
                        assert {k: v for k, v in through.json().items() if k != "runtime_id" and k != "kind"} == {
                            k: v for k, v in remote.json().items() if k != "runtime_id" and k != "kind"
                        }
                if store == "memory":
                    # Nothing survived: the worker is unknown and the old cursor is from another run.
                    gone = await raw.get(f"/api/runtimes/gpu/workers/{worker}")
                    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "unknown_worker")
                    expired = await raw.get("/api/runtimes/gpu/events", params={"cursor": cursor})
                    assert (expired.status_code, expired.json()["error"]["code"]) == (410, "cursor_expired")
                    async with raw.stream(
                        "GET", "/api/runtimes/gpu/events/stream", headers={"Last-Event-ID": str(cursor)}
                    ) as stream:
                        text = (await stream.aread()).decode()
                    assert "event: cursor_expired" in text
                else:
                    # The store kept the worker and its events: the old cursor continues.
                    assert (await raw.get(f"/api/runtimes/gpu/workers/{worker}")).status_code == 200
                    assert (await raw.get("/api/runtimes/gpu/events", params={"cursor": cursor})).status_code == 200
                assert (await raw.post("/api/runtimes/gpu/workers", json={})).status_code == 201
        assert_hides(front.log_text(), url)


async def test_a_hanging_remote_is_504_within_the_call_timeout_and_degraded(tmp_path):
    with (
        running_server(back_config(tmp_path), log=tmp_path / "back.log") as back,
        front_over(tmp_path, back.base_url) as front,
    ):
        async with httpx.AsyncClient(base_url=front.base_url, timeout=30) as raw:
            worker = (await raw.post("/api/runtimes/gpu/workers", json={})).json()["worker_id"]
            with stopped_process(back):
                response, took = await timed(raw.get(f"/api/runtimes/gpu/workers/{worker}"))
                assert (response.status_code, response.json()["error"]["code"]) == (504, "runtime_timeout")
                assert REMOTE_TIMEOUT * 0.9 <= took < CALL_TIMEOUT
                assert_hides(response.text, back.base_url)
                body = await summary(front)
                assert body["status"] == "degraded"
                assert [d["code"] for d in body["diagnostics"]] == ["remote_slow"]
            await until_status(front, "running")
            assert (await raw.get(f"/api/runtimes/gpu/workers/{worker}")).status_code == 200


@pytest.mark.parametrize(
    "garbage",
    [
        answer(200, b"<html>a web page</html>", "text/html"),
        answer(200, b'{"runtime_id": 5}'),
        answer(404, b"not found", "text/plain"),
    ],
    ids=["html", "wrong-shape", "plain-404"],
)
async def test_a_remote_answering_garbage_is_unavailable(tmp_path, garbage):
    async with CannedServer(garbage) as canned:
        with front_over(tmp_path, canned.base_url) as front:
            async with httpx.AsyncClient(base_url=front.base_url, timeout=30) as raw:
                response = await raw.get("/api/runtimes/gpu/workers/w-1")
                assert (response.status_code, response.json()["error"]["code"]) == (503, "runtime_unavailable")
            body = await summary(front)
            assert body["status"] == "unavailable"
            assert [d["code"] for d in body["diagnostics"]] == ["remote_malformed"]
            assert_hides(str(body) + response.text + front.log_text(), canned.base_url)


async def test_a_remote_message_that_names_the_remote_is_not_passed_on(tmp_path):
    async with CannedServer(answer(200, b"")) as canned:
        canned.response = envelope_answer(409, "worker_busy", f"busy at {canned.base_url} (127.0.0.1:{canned.port})")
        with front_over(tmp_path, canned.base_url) as front:
            async with httpx.AsyncClient(base_url=front.base_url, timeout=30) as raw:
                response = await raw.post("/api/runtimes/gpu/workers/w-1/input", json={"content": "x"})
    assert response.status_code in (409, 503)
    assert_hides(response.text, canned.base_url)


async def test_a_wrong_token_makes_the_runtime_unavailable_not_a_401(tmp_path):
    with (
        running_server(back_config(tmp_path, token=TOKEN), log=tmp_path / "back.log") as back,
        front_over(tmp_path, back.base_url, token="not-the-token", token_env=TOKEN_ENV) as front,
    ):
        async with httpx.AsyncClient(base_url=front.base_url, timeout=30) as raw:
            response = await raw.get("/api/runtimes/gpu/workers")
        assert (response.status_code, response.json()["error"]["code"]) == (503, "runtime_unavailable")
        assert "token" in response.json()["error"]["message"]
        body = await summary(front)
        assert body["status"] == "unavailable"
        assert [d["code"] for d in body["diagnostics"]] == ["remote_unauthorized"]
        for text in (response.text, str(body), front.log_text()):
            assert_hides(text, back.base_url)
            assert "not-the-token" not in text


async def test_a_token_variable_that_is_not_set_is_a_clear_diagnostic(tmp_path):
    with (
        running_server(back_config(tmp_path, token=TOKEN), log=tmp_path / "back.log") as back,
        front_over(tmp_path, back.base_url, token_env=TOKEN_ENV) as front,
    ):
        body = await summary(front)
        assert body["status"] == "unavailable"
        assert body["diagnostics"][0]["code"] == "remote_token_missing"
        assert TOKEN_ENV in body["diagnostics"][0]["message"]
        async with httpx.AsyncClient(base_url=front.base_url, timeout=30) as raw:
            assert (await raw.get("/api/runtimes/gpu/workers")).status_code == 503
        assert_hides(str(body) + front.log_text(), back.base_url)


async def test_a_remote_down_at_start_starts_unavailable_and_recovers_by_itself(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with front_over(tmp_path, url) as front:
        body = await summary(front)
        assert body["status"] == "unavailable" and body["diagnostics"][0]["code"] == "remote_unreachable"
        with server_on_port(port, back_config(tmp_path), log=tmp_path / "back.log"):
            await until_status(front, "running")
            async with httpx.AsyncClient(base_url=front.base_url, timeout=30) as raw:
                assert (await raw.post("/api/runtimes/gpu/workers", json={})).status_code == 201
