"""Driving a worker from the browser: create, send, watch the reply stream in, cancel, delete; tools, failures, 409, keys."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from .browser import wait_for
from .conftest import EMBEDDED, api, console_config, console_server, create_worker


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("console-session")
    with console_server(console_config(folder)) as base_url:
        yield base_url


def worker_url(worker_id: str) -> str:
    return f"/runtimes/{EMBEDDED}/workers/{worker_id}"


def test_a_full_session_create_send_stream_cancel_delete(page, served):
    page.open(served, f"/runtimes/{EMBEDDED}/workers")
    page.wait("#create-profile")
    Select(page.find("#create-profile")).select_by_value("drip")
    page.find("#create-label").send_keys("session from the browser")
    page.find("#create-submit").click()
    created = page.wait(".form-message", text="Created")
    worker_id = created.find_element(By.CSS_SELECTOR, "a").text
    row = page.wait(f'tr[data-worker="{worker_id}"]')
    assert "session from the browser" in row.text and "drip" in row.text

    # Open it, send input, and see the reply stream in while the turn still runs.
    created.find_element(By.CSS_SELECTOR, "a").click()
    page.wait("#stream-state", text="Live")
    page.find("#input").send_keys("hello, streaming")
    page.find("#send").click()
    streamed = page.wait(".live-turn .streaming", text="piece2")
    assert page.find("#worker-status").text == "busy"
    assert "piece29" not in streamed.text  # the turn (30 pieces, 3 s) has not ended
    assert not page.find("#input").is_enabled() and "busy" in page.find("#busy-reason").text
    assert page.find("#cancel").is_enabled()
    # The end: the streamed text becomes the transcript entry, with usage and stop reason.
    reply = page.wait('#entries [data-sequence="2"]', text="piece29", timeout=20)
    assert reply.text.count("hello, streaming") == 1
    note = page.wait("#entries .turn-note.usage", text="turn 1 completed")
    assert "30 output tokens" in note.text and "stop reason: end_turn" in note.text
    # The worker's totals (decision 0201): one turn, its usage.
    page.wait("#worker-facts", text="1 turns · 16 in / 30 out tokens")
    assert page.find_all(".live-turn") == [] and page.find("#worker-status").text == "idle"
    assert page.find("#input").is_enabled()

    # A second turn, cancelled half-way.
    page.find("#input").send_keys("cancel me")
    page.find("#send").click()
    page.wait(".live-turn .streaming", text="piece1")
    page.find("#cancel").click()
    page.wait("#entries .turn-note.cancelled", text="turn 2 cancelled")
    wait_for(lambda: page.find("#worker-status").text == "idle", what="idle after cancel")

    # Delete it from the table, confirming in place.
    page.find(".crumbs a").click()
    page.wait(f'tr[data-worker="{worker_id}"] button.action-delete').click()
    page.wait(f'tr[data-worker="{worker_id}"] .confirm-delete .confirm-yes', text="Yes, delete").click()
    page.wait(".row-message", text=f"Deleted {worker_id}")
    wait_for(lambda: page.find_all(f'tr[data-worker="{worker_id}"]') == [], what="the row to go")
    with api(served) as client:
        assert client.get(f"/api/runtimes/{EMBEDDED}/workers/{worker_id}").status_code == 404


def test_stop_asks_first_and_no_keeps_the_worker(page, served):
    with api(served) as client:
        worker = create_worker(client, label="to stop")
    page.open(served, f"/runtimes/{EMBEDDED}/workers")
    row = f'tr[data-worker="{worker["worker_id"]}"]'
    page.wait(row + " button.action-stop").click()
    page.wait(row + " .confirm-no").click()
    assert page.find(row + " button.action-stop").is_displayed()
    page.find(row + " button.action-stop").click()
    page.wait(row + " .confirm-yes").click()
    page.wait(row, text="stopped")
    with api(served) as client:
        assert client.get(f"/api/runtimes/{EMBEDDED}/workers/{worker['worker_id']}").json()["status"] == "stopped"


def test_a_busy_worker_disables_the_input_and_a_409_says_why(page, served):
    page.expect_http_errors(409)
    with api(served) as client:
        worker = create_worker(client, profile="slow")
        page.open(served, worker_url(worker["worker_id"]))
        page.wait("#stream-state", text="Live")
        # Another client starts a turn; this view learns of it from the stream.
        client.post(f"/api/runtimes/{EMBEDDED}/workers/{worker['worker_id']}/input", json={"content": "elsewhere"})
        page.wait("#worker-status", text="busy")
        assert not page.find("#input").is_enabled()
        assert "busy" in page.find("#busy-reason").text
        # A view that had not heard yet (its box still enabled) gets the server's 409, shown plainly.
        page.script(
            "document.getElementById('input').disabled = false; document.getElementById('send').disabled = false;"
        )
        page.find("#input").send_keys("too soon")
        page.find("#send").click()
        refused = page.wait("#busy-reason .error", text="409 worker_busy")
        assert "in a turn" in refused.text.split(":", 1)[1]  # the server's own message
        client.post(f"/api/runtimes/{EMBEDDED}/workers/{worker['worker_id']}/cancel")
    page.wait("#entries .turn-note.cancelled")
    wait_for(lambda: page.find("#input").is_enabled(), what="the input enabled again")


def test_tool_calls_are_collapsed_and_a_failure_shows_its_code_and_message(page, served):
    with api(served) as client:
        tooling = create_worker(client, profile="tooling", capabilities=["tool:clock"])
        failing = create_worker(client, profile="failing")
    page.open(served, worker_url(tooling["worker_id"]))
    page.wait("#stream-state", text="Live")
    page.find("#input").send_keys("what time is it")
    page.find("#send").click()
    call = page.wait("#entries details.role-tool_call")
    result = page.wait("#entries details.role-tool_result")
    assert call.get_attribute("open") is None and result.get_attribute("open") is None
    assert not call.find_element(By.CSS_SELECTOR, "pre").is_displayed()
    call.find_element(By.CSS_SELECTOR, "summary").click()
    assert "clock" in call.find_element(By.CSS_SELECTOR, "pre").text
    page.wait("#entries .turn-note.usage", text="turn 1 completed")

    page.open(served, worker_url(failing["worker_id"]))
    page.wait("#stream-state", text="Live")
    page.find("#input").send_keys("please fail")
    page.find("#send").click()
    failure = page.wait("#entries .turn-note.failure", text="turn 1 failed: provider_error")
    assert "the provider refused: please fail" in failure.text

    # A failure of the engine's own: the closed code and the engine's code beside it (decision 0213).
    with api(served) as client:
        refusing = create_worker(client, profile="refusing")
    page.open(served, worker_url(refusing["worker_id"]))
    page.wait("#stream-state", text="Live")
    page.find("#input").send_keys("no thanks")
    page.find("#send").click()
    refused = page.wait("#entries .turn-note.failure", text="turn 1 failed: engine_error (drip.refused_input)")
    assert "the engine refused: no thanks" in refused.text


def test_the_input_box_is_reached_and_submitted_with_the_keyboard(page, served):
    with api(served) as client:
        worker = create_worker(client, profile="builtin:echo")
    page.open(served, worker_url(worker["worker_id"]))
    page.wait("#stream-state", text="Live")
    page.script("document.activeElement.blur(); document.body.focus();")
    body = page.find("body")
    for _ in range(15):
        if page.script("return document.activeElement.id") == "input":
            break
        page.driver.switch_to.active_element.send_keys(Keys.TAB) if _ else body.send_keys(Keys.TAB)
    assert page.script("return document.activeElement.id") == "input"
    page.driver.switch_to.active_element.send_keys("typed, not clicked", Keys.ENTER)
    page.wait('#entries [data-sequence="2"]', text="typed, not clicked")
    wait_for(lambda: page.find("#input").is_enabled(), what="the input enabled after the turn")
    # Focus stays in the box; Shift+Enter is a new line, not a send.
    assert page.script("return document.activeElement.id") == "input"
    page.driver.switch_to.active_element.send_keys("line one", Keys.SHIFT, Keys.ENTER, Keys.SHIFT, "line two")
    assert page.find("#input").get_attribute("value") == "line one\nline two"
    assert page.find_all('#entries [data-sequence="3"]') == []
