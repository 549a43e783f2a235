"""Each view of the console renders against a real server with data in it; read-only kinds show no write controls."""

from __future__ import annotations

import pytest

from .browser import wait_for
from .conftest import EMBEDDED, LOCAL, api, console_config, console_server, create_worker, wait_idle

WORKERS = 60  # more than one page (50)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("console-views")
    with console_server(console_config(folder)) as base_url:
        with api(base_url) as client:
            chatty = create_worker(client, profile="builtin:echo", label="chatty")
            client.post(
                f"/api/runtimes/{EMBEDDED}/workers/{chatty['worker_id']}/input", json={"content": "hello there"}
            )
            wait_idle(client, chatty["worker_id"])
            for number in range(WORKERS - 1):
                create_worker(client, label=f"worker {number:02d}")
        yield base_url, chatty["worker_id"]


def test_the_runtimes_view_shows_each_runtime_its_capabilities_limits_and_the_plugins(page, served):
    base_url, _ = served
    page.open(base_url, "/runtimes")
    card = page.wait(f'[data-runtime="{EMBEDDED}"]', text="running")
    assert "Backend (embedded)" in card.text and "embedded" in card.text
    assert "local-compat" in page.find(f'[data-runtime="{LOCAL}"]').text

    # The cards are rebuilt every few seconds: read them through fresh look-ups (collapsed ones by text content).
    def names(css: str) -> set[str]:
        return {e.get_attribute("textContent").split(" ", 1)[1] for e in page.find_all(css)}

    assert {"create_worker", "list_profiles", "stream_events"} <= names(
        f'[data-runtime="{EMBEDDED}"] .capabilities .yes'
    )
    assert {"create_worker", "send_input", "list_profiles"} <= names(f'[data-runtime="{LOCAL}"] .capabilities .no')
    limits = page.find(f'[data-runtime="{EMBEDDED}"] details:last-of-type dl').get_attribute("textContent")
    assert "max_workers" in limits and "20000" in limits
    plugins = page.wait("#plugins", text="embedded")
    assert "local-compat" in plugins.text and "drip" in plugins.text  # the test's engine plugin
    # An opened section stays open across refreshes, and the stamp says it was read again.
    page.find(f'[data-runtime="{EMBEDDED}"] details summary').click()
    first = page.find("#runtimes-updated").text
    wait_for(lambda: page.find("#runtimes-updated").text != first, timeout=10, what="a refresh")
    assert page.find(f'[data-runtime="{EMBEDDED}"] details').get_attribute("open") is not None
    assert page.find(f'[data-runtime="{EMBEDDED}"] .capabilities').is_displayed()


def test_the_workers_view_of_a_runtime_is_paged_and_offers_create_with_the_profiles(page, served):
    base_url, _ = served
    page.open(base_url, f"/runtimes/{EMBEDDED}/workers")
    page.wait(".pager-status", text="Page 1: 50 workers; more follow")
    assert len(page.find_all("table.workers tbody tr")) == 50
    page.find("button.next").click()
    page.wait(".pager-status", text=f"Page 2: {WORKERS - 50} workers.")
    assert len(page.find_all("table.workers tbody tr")) == WORKERS - 50
    page.find("button.previous").click()
    page.wait(".pager-status", text="Page 1: 50 workers")
    options = [o.get_attribute("value") for o in page.find_all("#create-profile option")]
    assert options[:2] == ["builtin:default", "builtin:echo"] and {"drip", "slow", "tooling"} <= set(options)
    selected = page.find("#create-profile option:checked")
    assert selected.get_attribute("value") == "builtin:default" and "(default)" in selected.text
    assert page.find_all("button.action-stop") and page.find_all("button.action-delete")


def test_the_overview_lists_every_runtimes_workers_read_only(page, served):
    base_url, _ = served
    page.open(base_url, "/workers")
    page.wait(".pager-status", text="Page 1: 50 workers")
    text = page.main_text()
    assert (EMBEDDED in text and "chatty" in text) or "worker 0" in text
    assert page.find_all("#create-worker") == [] and page.find_all("button.action-delete") == []
    page.find("button.next").click()
    wait_for(lambda: LOCAL in page.main_text(), what="the local-compat runtime's workers on a later page")


def test_a_worker_view_shows_its_transcript(page, served):
    base_url, chatty = served
    page.open(base_url, f"/runtimes/{EMBEDDED}/workers/{chatty}")
    page.wait('#entries [data-sequence="2"]', text="hello there")
    assert page.find('#entries [data-sequence="1"]').text.endswith("hello there")
    assert "role" not in page.find("#worker-status").text and page.find("#worker-status").text == "idle"
    page.wait("#stream-state", text="Live")
    assert page.find("#input").is_enabled() and not page.find("#cancel").is_enabled()


def test_a_read_only_kind_shows_no_write_controls(page, served):
    base_url, _ = served
    page.open(base_url, f"/runtimes/{LOCAL}/workers")
    page.wait(".pager-status", text="Page 1")
    assert "read-only" in page.main_text()
    assert page.find_all("#create-worker") == []
    assert page.find_all("button.action-stop") == [] and page.find_all("button.action-delete") == []
    first = page.find("table.workers tbody tr a")
    first.click()
    wait_for(lambda: "read-only" in page.main_text(), what="the read-only note")
    # local-compat keeps no transcript and cannot stream: the view says so and asks for neither.
    assert "does not keep transcripts" in page.find("#no-transcript").text
    assert page.find_all("#input") == [] and page.find_all("#cancel") == [] and page.find_all("#stream-state") == []


def test_the_events_view_lists_the_runtimes_events_live(page, served):
    base_url, _ = served
    page.open(base_url, f"/runtimes/{EMBEDDED}/events")
    page.wait("#events-state", text="Live")
    page.wait("#event-rows", text="worker.created")
    with api(base_url) as client:
        late = create_worker(client, label="arrives while watching")
    row = page.wait("#event-rows", text=late["worker_id"])
    assert "worker.created" in row.text
    ids = [int(r.get_attribute("data-id")) for r in page.find_all("#event-rows tr") if r.get_attribute("data-id")]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
