"""The console's browser tests: one chromium per test session, real servers on loopback, the browser log checked.

Every test gets a :class:`Page` over the session's browser; after the test the
browser's log is read, and any ``SEVERE`` entry fails it — but for network
errors the test declared (``page.expect_http_errors(401)``): Chromium logs a
fetch answered 401 or 409 as a failed resource load, and some tests provoke
exactly that.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from runtime_registry.host import assemble, discover_plugins, parse_config
from runtime_registry.server.app import create_app

from ..reliability.in_process_server import serving_in_a_thread
from .browser import browser_paths, chromium, ci, wait_for
from .engines import DRIP_PLUGIN

EMBEDDED = "backend-internal"
LOCAL = "local-workers"
EXAMPLE_PODS = Path(__file__).resolve().parents[1] / "fixtures" / "pod_store_examples"
#: Rendered as HTML it would run; rendered as text it is just these characters.
XSS_IMG = '<img src=x onerror="window.__xss=1">'
XSS_SCRIPT = "</script><script>window.__xss=2</script>"
XSS_LINK = "javascript:window.__xss=3"

_DISCOVERED = (*discover_plugins(), DRIP_PLUGIN)


def console_config(
    data_dir: Path, *, token: str | None = None, store: str = "sqlite", drip: bool = True, extra: str = ""
) -> str:
    """An embedded runtime with streaming, slow, tool-calling and failing profiles, and a local-compat one.

    :param drip: include the profiles of the in-process ``drip`` engine (``False`` for a server in its own
        process, which does not have that engine).
    """
    pods = data_dir / "pods-data"
    if not pods.exists():
        shutil.copytree(EXAMPLE_PODS, pods)
    server = f'[server]\nstream_heartbeat_seconds = 0.5\ndata_dir = "{data_dir}"\n'
    if token is not None:
        server += f'token = "{token}"\n'
    embedded = textwrap.dedent(
        f"""
        [[runtimes]]
        id = "{EMBEDDED}"
        kind = "embedded"
        display_name = "Backend (embedded)"
        [runtimes.settings]
        max_workers = 20000
        store = {{ backend = "{store}" }}
        [runtimes.settings.profiles.slow]
        base = "builtin:echo"
        reply_delay_seconds = 60.0
        description = "replies after a minute"
        [runtimes.settings.profiles.xss]
        base = "builtin:echo"
        description = '{XSS_IMG}'
        """
    )
    drip_profiles = textwrap.dedent(
        """
        [runtimes.settings.profiles.drip]
        engine = "drip"
        options = { pieces = 30, interval = 0.1 }
        description = "streams a reply over three seconds"
        [runtimes.settings.profiles.tooling]
        engine = "drip"
        tools = ["clock"]
        options = { pieces = 2, interval = 0.05, tool = true }
        [runtimes.settings.profiles.failing]
        engine = "drip"
        options = { fail = true, interval = 0.05 }
        [runtimes.settings.profiles.refusing]
        engine = "drip"
        options = { refuse = true }
        [runtimes.settings.profiles.burst]
        engine = "drip"
        options = { pieces = 200, interval = 0.02 }
        """
    )
    local = textwrap.dedent(
        f"""
        [[runtimes]]
        id = "{LOCAL}"
        kind = "local-compat"
        display_name = "Local workers"
        settings = {{ data_dir = "{pods}", workspace_root = "/srv/workspaces/alpha" }}
        """
    )
    return server + embedded + (drip_profiles if drip else "") + local + extra


def console_app(config_text: str):
    """The real app of ``config_text``, with the in-process ``drip`` engine plugin."""
    return create_app(assembly=assemble(parse_config(config_text), discovered=_DISCOVERED))


@contextlib.contextmanager
def console_server(config_text: str, *, port: int | None = None) -> Iterator[str]:
    """The app served by uvicorn on 127.0.0.1 (a free port unless given); yields its base URL."""
    with serving_in_a_thread(console_app(config_text), port=port) as base_url:
        yield base_url


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    paths = browser_paths()
    if paths is None:
        message = "the console tests need chromium and chromium-driver (apt-get install -y chromium chromium-driver)"
        if ci():
            pytest.fail(message)
        pytest.skip(message)
    with chromium(paths) as driver:
        yield driver


_STATUS = re.compile(r"status of (\d{3})")


@attrs.define
class Page:
    """The session's browser, for one test: open views, find elements, read text."""

    driver: Any
    allowed_statuses: set[int] = attrs.field(factory=set)
    connection_refusals_expected: bool = False

    def expect_http_errors(self, *statuses: int) -> None:
        """Declare the HTTP errors this test provokes: their failed-load log lines are not console errors."""
        self.allowed_statuses.update(statuses)

    def expect_connection_refused(self) -> None:
        """Declare that this test stops the server while the page is open (its reconnect attempts are refused)."""
        self.connection_refusals_expected = True

    def open(self, base_url: str, fragment: str = "/runtimes") -> None:
        """Load the console afresh (a new document, not a hash change) at ``#fragment``."""
        self.driver.get("about:blank")
        self.driver.get(f"{base_url}/console/#{fragment}")

    def find(self, css: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def wait(self, css: str, *, text: str | None = None, timeout: float = 15.0) -> Any:
        """The first element matching ``css`` (and containing ``text``, if given), once there."""

        def found() -> Any:
            for element in self.find_all(css):
                if text is None or text in element.text:
                    return element
            return None

        return wait_for(found, timeout=timeout, what=f"{css!r}" + (f" showing {text!r}" if text else ""))

    def main_text(self) -> str:
        return self.find("main").text

    def script(self, source: str, *arguments: Any) -> Any:
        return self.driver.execute_script(source, *arguments)

    def console_errors(self) -> list[dict]:
        """SEVERE browser-log entries, but for the declared HTTP errors."""
        errors = []
        for entry in self.driver.get_log("browser"):
            if entry["level"] != "SEVERE":
                continue
            status = _STATUS.search(entry["message"])
            if entry.get("source") == "network" and status and int(status.group(1)) in self.allowed_statuses:
                continue
            if (
                entry.get("source") == "network"
                and self.connection_refusals_expected
                and "net::ERR_CONNECTION_REFUSED" in entry["message"]
            ):
                continue
            errors.append(entry)
        return errors


@pytest.fixture
def page(browser) -> Iterator[Page]:
    browser.get("about:blank")
    browser.get_log("browser")  # what earlier tests left
    current = Page(browser)
    yield current
    # Leave the page: its event stream closes, so the test's server can stop at once.
    browser.get("about:blank")
    errors = current.console_errors()
    assert errors == [], f"errors in the browser console: {errors}"


def api(base_url: str, token: str | None = None) -> httpx.Client:
    """A plain HTTP client of the server, to put data in and read it back."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=base_url, headers=headers, timeout=30)


def create_worker(client: httpx.Client, **body: Any) -> dict:
    answer = client.post(f"/api/runtimes/{EMBEDDED}/workers", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def wait_idle(client: httpx.Client, worker_id: str, runtime_id: str = EMBEDDED) -> dict:
    return wait_for(
        lambda: (w := client.get(f"/api/runtimes/{runtime_id}/workers/{worker_id}").json())["status"] != "busy" and w,
        what=f"worker {worker_id} to be idle",
    )
