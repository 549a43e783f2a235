"""The console's files over HTTP: served from the package with safe headers, open but Host-checked, and off when configured."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from runtime_registry.server.app import create_app
from runtime_registry.server.console import CONTENT_SECURITY_POLICY, load_console_files

from ..support.asgi_client import serving
from .conftest import EMBEDDED_CONFIG, embedded_assembly, error_of

REPOSITORY = Path(__file__).resolve().parents[2]
CONSOLE_FOLDER = REPOSITORY / "runtime_registry" / "console"
TOKEN = "console-files-token-5d3e"


@pytest.fixture
async def client():
    async with serving(create_app(assembly=embedded_assembly())) as client:
        yield client


async def test_the_page_and_every_file_are_served_with_their_media_type(client):
    page = await client.get("/console/")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    scripts = re.findall(r'src="([^"]+)"', page.text)
    assert scripts == ["app.js"]
    for name in ("app.js", "api.js", "dom.js", "worker.js", "workers.js", "events.js", "runtimes.js"):
        answer = await client.get(f"/console/{name}")
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/javascript")
    assert (await client.get("/console/console.css")).headers["content-type"].startswith("text/css")


async def test_console_without_a_slash_redirects_to_the_page(client):
    answer = await client.get("/console", follow_redirects=False)
    assert answer.status_code == 308 and answer.headers["location"] == "/console/"


async def test_the_root_sends_a_browser_to_the_console(client):
    answer = await client.get("/", follow_redirects=False)
    assert answer.status_code == 307 and answer.headers["location"] == "/console/"
    assert answer.headers["x-frame-options"] == "DENY"


async def test_every_console_answer_forbids_inline_script_framing_and_other_origins(client):
    for path in ("/console/", "/console/app.js", "/console/console.css"):
        headers = (await client.get(path)).headers
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
    policy = dict(part.split(" ", 1) for part in CONTENT_SECURITY_POLICY.split("; "))
    assert policy["script-src"] == "'self'" and "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert policy["frame-ancestors"] == "'none'" and policy["default-src"] == "'none'"


async def test_the_page_has_no_inline_script_or_style_and_no_outside_url():
    for name, file in load_console_files().items():
        text = file.body.decode()
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text, name
        if name == "index.html":
            assert re.findall(r"<script[^>]*>", text) == ['<script type="module" src="app.js">']
            assert "<style" not in text and " style=" not in text and "onload" not in text


async def test_no_module_builds_html_from_strings():
    for path in CONSOLE_FOLDER.glob("*.js"):
        text = path.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in text, f"{path.name} uses {sink}"


async def test_a_name_that_is_not_a_console_file_is_404_in_the_envelope(client):
    for path in ("/console/nope.js", "/console/__init__.py", "/console/a/b", "/console/LICENSE"):
        assert error_of(await client.get(path)) == (404, "not_found"), path
    # An escaped slash is refused before any route is tried, as everywhere.
    assert error_of(await client.get("/console/..%2Fapp.py")) == (400, "invalid_identifier")


async def test_a_revalidation_with_the_etag_is_304(client):
    first = await client.get("/console/app.js")
    again = await client.get("/console/app.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


async def test_the_console_is_open_with_a_token_but_the_api_is_not():
    config = EMBEDDED_CONFIG.replace("[server]\n", f'[server]\ntoken = "{TOKEN}"\n', 1)
    async with serving(create_app(assembly=embedded_assembly(config))) as client:
        assert (await client.get("/console/")).status_code == 200
        assert error_of(await client.get("/api/runtimes")) == (401, "unauthorized")
        assert TOKEN not in (await client.get("/console/app.js")).text


async def test_a_rebinding_host_is_refused_for_the_console_too(client):
    answer = await client.get("/console/", headers={"Host": "rebinding.example:8000"})
    assert error_of(answer) == (421, "misdirected_request")


async def test_console_false_turns_it_off():
    config = EMBEDDED_CONFIG.replace("[server]\n", "[server]\nconsole = false\n", 1)
    async with serving(create_app(assembly=embedded_assembly(config))) as client:
        for path in ("/", "/console", "/console/", "/console/app.js"):
            assert error_of(await client.get(path)) == (404, "not_found")


def test_every_console_file_is_package_data():
    """The wheel ships what the folder holds: every file's suffix is in pyproject's package-data patterns."""
    patterns = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "runtime_registry.console"
    ]
    shipped = {pattern.removeprefix("*") for pattern in patterns}
    files = [path for path in CONSOLE_FOLDER.iterdir() if path.is_file() and path.suffix != ".py"]
    assert files and all(path.suffix in shipped for path in files)
    assert {path.name for path in files} <= set(load_console_files()) | {"LICENSE.txt"}
