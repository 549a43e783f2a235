"""Failed bearer tokens are paced per client; a short token is named at start (issue 24, point 11).

Against ``runtime-registry serve`` on loopback: before the fix one
connection could try about 1,000 tokens a second, and a 1-character token
served without a word.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from runtime_registry.server.middleware.token_guesses import TokenGuessPacer

from ..support.server_process import running_server
from .app_config import embedded_toml, write_config
from .load_client import LoadClient

TOKEN = "token-guesses-token-0123456789"
BURST = 5
RATE = 2.0
MAX_WAIT = 5.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_pacer_allows_a_burst_then_paces_and_refuses_what_is_too_far_off():
    clock = FakeClock()
    pacer = TokenGuessPacer(burst=3, rate_per_second=2.0, max_wait_seconds=2.0, clock=clock)
    for _ in range(3):
        assert pacer.turn("a") == 0
        pacer.failed("a")
    waits = [pacer.turn("a") for _ in range(6)]
    # Each waiting request reserved the next half second; past 2 s, refused.
    assert waits[:4] == pytest.approx([0.5, 1.0, 1.5, 2.0])
    assert waits[4:] == [None, None]
    assert pacer.retry_after("a") >= 1
    # Another client is not affected.
    assert pacer.turn("b") == 0


def test_a_client_that_stops_failing_is_forgotten_once_under_its_burst():
    clock = FakeClock()
    pacer = TokenGuessPacer(burst=2, rate_per_second=1.0, max_wait_seconds=5.0, clock=clock)
    pacer.failed("a")
    pacer.failed("a")
    assert pacer.turn("a") > 0
    clock.now += 10
    assert pacer.turn("a") == 0
    pacer.succeeded("a")
    assert pacer.retry_after("a") == 0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("token-guesses")
    settings = f"[server]\nfailed_token_burst = {BURST}\nfailed_tokens_per_second = {RATE}\n"
    config = write_config(directory, embedded_toml(token=TOKEN).replace("[server]\n", settings))
    with running_server(config, log=directory / "server.log") as served:
        yield served


async def test_guesses_past_the_burst_are_paced_then_refused_with_429(server):
    guesses = 60
    started = time.monotonic()
    # All at once, each on its own connection: concurrency must not multiply the guesses.
    async with LoadClient(server.base_url, connections=guesses) as api:
        replies = await asyncio.gather(
            *(
                api.request("GET", "/api/runtimes", headers={"Authorization": f"Bearer guess-{i}"})
                for i in range(guesses)
            )
        )
    elapsed = time.monotonic() - started
    checked = [reply for reply in replies if reply.status == 401]
    refused = [reply for reply in replies if reply.status == 429]
    assert len(checked) + len(refused) == guesses
    # The burst at once, then RATE a second for as long as the requests took, plus one.
    assert len(checked) <= BURST + RATE * elapsed + 1
    assert len(refused) >= guesses - (BURST + RATE * MAX_WAIT + 1)
    body = refused[0].json()["error"]
    assert body["code"] == "too_many_requests"
    assert TOKEN not in refused[0].body.decode() and "guess" not in refused[0].body.decode()
    retry_after = int(refused[0].headers["retry-after"])
    assert 1 <= retry_after <= MAX_WAIT + 1

    # Once the client's turn is back, the right token is served.
    await asyncio.sleep(MAX_WAIT + 1)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=15) as client:
        response = await client.get("/api/runtimes", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200


def test_a_short_token_is_named_at_start_without_showing_it(tmp_path):
    config = write_config(tmp_path, embedded_toml(token="q"))
    with running_server(config, log=tmp_path / "server.log") as served:
        response = httpx.get(f"{served.base_url}/api/runtimes", headers={"Authorization": "Bearer q"}, timeout=10)
        assert response.status_code == 200
        log = served.log_text()
    assert "server.token has 1 characters" in log
    assert "Bearer q" not in log and "token = " not in log


def test_a_long_token_gets_no_warning(server):
    assert "server.token has" not in server.log_text()
