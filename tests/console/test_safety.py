"""What a client or a model wrote renders as text, never as markup; the token stays in the tab; a wrong one is a plain 401."""

from __future__ import annotations

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By

from .browser import wait_for
from .conftest import (
    EMBEDDED,
    XSS_IMG,
    XSS_LINK,
    XSS_SCRIPT,
    api,
    console_config,
    console_server,
    create_worker,
    wait_idle,
)

TOKEN = "console-token-4f7a2c9e1b"
PAYLOADS = (XSS_IMG, XSS_SCRIPT, XSS_LINK)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("console-safety")
    with console_server(console_config(folder)) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("console-token")
    with console_server(console_config(folder, token=TOKEN)) as base_url:
        yield base_url


def assert_inert(page) -> None:
    """No payload ran, and none became an element or a link."""
    assert page.script("return window.__xss === undefined"), "a payload ran"
    with pytest.raises(NoAlertPresentException):
        page.driver.switch_to.alert  # noqa: B018 (the property raises when there is none)
    main = page.find("main")
    assert main.find_elements(By.CSS_SELECTOR, "img, script, iframe, object, embed") == []
    hrefs = [a.get_attribute("href") or "" for a in main.find_elements(By.CSS_SELECTOR, "a")]
    assert not [href for href in hrefs if not href.split("#", 1)[0].endswith("/console/")], hrefs


def test_payloads_in_labels_inputs_model_output_and_errors_render_as_text(page, served):
    with api(served) as client:
        labelled = create_worker(client, profile="failing", label=XSS_IMG)
        echoing = create_worker(client, profile="drip", label=XSS_LINK)
        for worker, payload in ((labelled, XSS_SCRIPT), (echoing, " ".join(PAYLOADS))):
            client.post(f"/api/runtimes/{EMBEDDED}/workers/{worker['worker_id']}/input", json={"content": payload})
            wait_idle(client, worker["worker_id"])

    page.open(served, f"/runtimes/{EMBEDDED}/workers")
    page.wait(f'tr[data-worker="{labelled["worker_id"]}"] .label', text=XSS_IMG)
    assert page.find(f'tr[data-worker="{echoing["worker_id"]}"] .label').text == XSS_LINK
    # A profile description from the configuration is text too.
    assert XSS_IMG in page.find('#create-profile option[value="xss"]').text
    assert_inert(page)

    # The model's output (echoed input, streamed and final) and the failure's message.
    page.open(served, f"/runtimes/{EMBEDDED}/workers/{echoing['worker_id']}")
    reply = page.wait('#entries [data-sequence="2"] .content', text="piece29")
    assert reply.text.startswith(" ".join(PAYLOADS))
    assert page.find("h1").text.startswith(XSS_LINK)
    page.find("#input").send_keys(XSS_IMG)
    page.find("#send").click()
    page.wait(".live-turn .streaming", text=XSS_IMG)
    assert_inert(page)
    page.wait('#entries [data-sequence="4"]', text="piece29", timeout=20)

    page.open(served, f"/runtimes/{EMBEDDED}/workers/{labelled['worker_id']}")
    page.wait("#entries .turn-note.failure", text="provider_error")
    page.wait('#entries [data-sequence="1"]', text=XSS_SCRIPT)
    # Once more, watched live.
    page.find("#input").send_keys(XSS_IMG)
    page.find("#send").click()
    failure = page.wait("#entries .turn-note.failure", text=f"the provider refused: {XSS_IMG}")
    assert "turn 2 failed" in failure.text
    assert_inert(page)

    # The event feed shows the same data as text.
    page.open(served, f"/runtimes/{EMBEDDED}/events")
    page.wait("#event-rows", text=XSS_SCRIPT)
    assert_inert(page)


def test_with_a_token_the_console_asks_for_it_and_shows_a_wrong_one_plainly(page, guarded):
    page.expect_http_errors(401)
    page.open(guarded, "/runtimes")
    form = page.wait("#login", text="needs a bearer token")
    assert form.find_elements(By.CSS_SELECTOR, ".error") == []  # no token yet: nothing was refused
    page.find("#token").send_keys("not-the-token")
    page.find("#sign-in").click()
    refused = page.wait("#login .error", text="401 unauthorized")
    assert "the bearer token is not valid" in refused.text

    page.find("#token").send_keys(TOKEN)
    page.find("#sign-in").click()
    page.wait(f'[data-runtime="{EMBEDDED}"]', text="running")
    # Kept for this tab only: in sessionStorage, not in a cookie, not in the address.
    assert page.script("return sessionStorage.getItem('runtime-registry-console-token')") == TOKEN
    assert page.script("return document.cookie") == ""
    assert TOKEN not in page.driver.current_url
    assert page.script("return localStorage.length") == 0

    # The stream (fetch with the header) works with it.
    page.find("#nav-events").click()
    page.wait("#events-state", text="Live")

    # Forget it: the next view asks again.
    page.find("#forget-token").click()
    page.wait("#login")
    assert page.script("return sessionStorage.getItem('runtime-registry-console-token')") is None


def test_a_token_does_not_outlive_its_tab(page, guarded):
    page.expect_http_errors(401)
    page.open(guarded, "/runtimes")
    page.wait("#login")
    page.find("#token").send_keys(TOKEN)
    page.find("#sign-in").click()
    page.wait(f'[data-runtime="{EMBEDDED}"]')
    first = page.driver.current_window_handle
    page.driver.switch_to.new_window("tab")
    try:
        page.driver.get(f"{guarded}/console/#/runtimes")
        wait_for(lambda: page.find_all("#login"), what="the login form in a new tab")
    finally:
        page.driver.close()
        page.driver.switch_to.window(first)
