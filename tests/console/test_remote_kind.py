"""The console over a ``remote`` runtime: the same views and controls, through a front server to its back server."""

from __future__ import annotations

import textwrap

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from .conftest import EMBEDDED, console_config, console_server

FRONT = "gpu"


@pytest.fixture(scope="module")
def front(tmp_path_factory):
    folder = tmp_path_factory.mktemp("console-remote")
    with console_server(console_config(folder)) as back_url:
        config = textwrap.dedent(
            f"""
            [server]
            stream_heartbeat_seconds = 0.5
            [[runtimes]]
            id = "{FRONT}"
            kind = "remote"
            display_name = "Remote backend"
            [runtimes.settings]
            url = "{back_url}"
            runtime_id = "{EMBEDDED}"
            timeout_seconds = 5.0
            """
        )
        with console_server(config) as front_url:
            yield front_url


def test_a_remote_runtime_is_driven_like_an_embedded_one(page, front):
    page.open(front, "/runtimes")
    card = page.wait(f'[data-runtime="{FRONT}"]', text="running")
    assert "remote" in card.text
    page.open(front, f"/runtimes/{FRONT}/workers")
    # The back runtime's profiles, passed through the front.
    page.wait('#create-profile option[value="drip"]')
    Select(page.find("#create-profile")).select_by_value("drip")
    page.find("#create-label").send_keys("through the front")
    page.find("#create-submit").click()
    page.wait(".form-message", text="Created").find_element(By.CSS_SELECTOR, "a").click()
    page.wait("#stream-state", text="Live")
    page.find("#input").send_keys("over two servers")
    page.find("#send").click()
    # The front's stream carries the stored events; the reply lands in the transcript.
    page.wait('#entries [data-sequence="2"]', text="piece29", timeout=30)
    page.wait("#entries .turn-note.usage", text="turn 1 completed")
    page.open(front, f"/runtimes/{FRONT}/events")
    page.wait("#event-rows", text="worker.turn_completed")
