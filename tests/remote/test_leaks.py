"""Nothing a front server answers about a remote runtime holds the remote's URL, address, port or token.

Every route of a ``remote`` runtime is driven through its successes and errors
(including the event stream and the runtime summaries), then every body and
header is scanned. The fault tests scan the answers of a remote that is down,
hanging, refusing the token or answering garbage.
"""

from __future__ import annotations

import httpx
import pytest

from runtime_registry.testing.conformance import find_path_like

from .conftest import BACK_TOKEN


@pytest.fixture(scope="module")
def secrets(pair) -> list[str]:
    url = pair.back.base_url
    return [url, url.removeprefix("http://"), ":" + url.rsplit(":", 1)[1], BACK_TOKEN, "Traceback"]


async def _visit_everything(front_url: str) -> list[httpx.Response]:
    answers: list[httpx.Response] = []
    async with httpx.AsyncClient(base_url=front_url, timeout=30) as raw:

        async def visit(method: str, path: str, **kwargs) -> httpx.Response:
            response = await raw.request(method, path, **kwargs)
            answers.append(response)
            return response

        await visit("GET", "/api/runtimes")
        await visit("GET", "/api/runtimes/gpu")
        await visit("GET", "/api/runtimes/ro")
        await visit("GET", "/api/plugins")
        await visit("GET", "/api/workers")
        await visit("POST", "/api/runtimes/gpu/workers", json={"profile": "no-such-profile", "label": "leak"})
        worker = (await visit("POST", "/api/runtimes/gpu/workers", json={"label": "leak"})).json()
        path = f"/api/runtimes/gpu/workers/{worker['worker_id']}"
        await visit("GET", path)
        await visit("POST", path + "/input", json={"content": "hello"})
        await visit("POST", path + "/input", json={"content": "again"})
        await visit("POST", path + "/input", json={"content": ""})
        await visit("GET", path + "/transcript", params={"limit": 5})
        await visit("GET", path + "/events")
        await visit("GET", "/api/runtimes/gpu/events", params={"cursor": 10**17})
        await visit("GET", "/api/runtimes/gpu/events", params={"limit": 10**6})
        await visit("GET", "/api/runtimes/gpu/workers", params={"cursor": "not-issued"})
        await visit("POST", "/api/runtimes/gpu/workers", json={"capabilities": ["tools"]})
        await visit("POST", "/api/runtimes/ro/workers", json={})
        await visit("GET", "/api/runtimes/gpu/workers/w-unknown")
        await visit("POST", path + "/cancel")
        await visit("POST", path + "/stop")
        await visit("POST", path + "/cancel")
        await visit("DELETE", path)
        await visit("DELETE", path)
        async with raw.stream("GET", "/api/runtimes/gpu/events/stream", params={"cursor": 10**17}) as stream:
            await stream.aread()
            answers.append(stream)
    return answers


async def test_no_answer_about_a_remote_runtime_holds_its_address_or_token(pair, secrets):
    answers = await _visit_everything(pair.front.base_url)
    assert {response.status_code for response in answers} >= {200, 201, 202, 400, 404, 405, 409, 422}
    for response in answers:
        text = response.text + "".join(f"{key}: {value}\n" for key, value in response.headers.items())
        assert [secret for secret in secrets if secret in text] == [], response.request.url
        if response.headers.get("content-type", "").startswith("application/json"):
            assert find_path_like(response.json()) == [], response.request.url


async def test_the_front_log_holds_no_address_or_token(pair, secrets):
    await _visit_everything(pair.front.base_url)
    log = pair.front.log_text()
    assert [secret for secret in secrets[:-1] if secret in log] == []
