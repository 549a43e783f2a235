"""A long transcript is paged backwards as you scroll up; a fast stream appends to one node and rebuilds nothing."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from .browser import wait_for
from .conftest import EMBEDDED, api, console_config, console_server, create_worker, wait_idle

TURNS = 60  # 120 entries: the last page (50) first, then two more pages


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("console-transcript")
    with console_server(console_config(folder, store="memory")) as base_url:
        with api(base_url) as client:
            long = create_worker(client, profile="builtin:echo", label="long")
            for number in range(TURNS):
                client.post(
                    f"/api/runtimes/{EMBEDDED}/workers/{long['worker_id']}/input", json={"content": f"input {number}"}
                )
                wait_idle(client, long["worker_id"])
        yield base_url, long["worker_id"]


def sequences(page) -> list[int]:
    return [
        int(s)
        for s in page.script(
            "return [...document.querySelectorAll('#entries [data-sequence]')].map(e => e.dataset.sequence)"
        )
    ]


def test_the_transcript_opens_at_its_last_page_and_loads_earlier_pages_on_scroll_up(page, served):
    base_url, worker_id = served
    page.open(base_url, f"/runtimes/{EMBEDDED}/workers/{worker_id}")
    page.wait('#entries [data-sequence="120"]', text="input 59")
    assert sequences(page) == list(range(71, 121))
    # At the bottom, not the top: the newest entries are in view.
    assert page.script("const t = document.getElementById('transcript'); return t.scrollTop > 0")
    page.script("document.getElementById('transcript').scrollTop = 0")
    wait_for(lambda: sequences(page)[:1] == [21], what="the page before")
    assert sequences(page) == list(range(21, 121))
    # The entries that were in view stay in view (the scroll position is kept, not reset to the top).
    assert page.script("return document.getElementById('transcript').scrollTop") > 0
    # The keyboard way: the button, focused and pressed (focusing it may already scroll to the top and load).
    page.script("document.getElementById('load-earlier').focus()")
    ActionChains(page.driver).send_keys(Keys.ENTER).perform()
    wait_for(lambda: sequences(page)[:1] == [1], what="the first page")
    assert sequences(page) == list(range(1, 121))
    wait_for(lambda: not page.find("#load-earlier").is_displayed(), what="no more to load")


def test_a_fast_stream_appends_to_one_text_node_and_rebuilds_no_entry(page, served):
    base_url, _ = served
    with api(base_url) as client:
        worker = create_worker(client, profile="burst")  # 200 deltas, one every 20 ms: 50 per second
        client.post(f"/api/runtimes/{EMBEDDED}/workers/{worker['worker_id']}/input", json={"content": "warm up"})
        wait_idle(client, worker["worker_id"])
    page.open(base_url, f"/runtimes/{EMBEDDED}/workers/{worker['worker_id']}")
    page.wait('#entries [data-sequence="2"]', text="piece199")
    page.wait("#stream-state", text="Live")
    page.script(
        """
        window.__marked = [...document.querySelectorAll('#entries > *')];
        window.__removed = 0; window.__textNodes = new Set(); window.__deltaMutations = 0;
        new MutationObserver((records) => {
          for (const r of records) {
            window.__removed += [...r.removedNodes].filter((n) => window.__marked.includes(n)).length;
          }
        }).observe(document.getElementById('entries'), { childList: true, subtree: true });
        new MutationObserver((records) => {
          for (const r of records) if (r.type === 'characterData') { window.__textNodes.add(r.target); window.__deltaMutations++; }
        }).observe(document.getElementById('live'), { characterData: true, subtree: true });
        """
    )
    page.find("#input").send_keys("go fast")
    page.find("#send").click()
    page.wait(".live-turn .streaming", text="piece50")
    page.wait('#entries [data-sequence="4"]', text="piece199", timeout=30)
    assert page.script("return window.__removed") == 0
    assert page.script("return window.__marked.every((n) => n.isConnected)")
    # Every delta went into the same text node.
    assert page.script("return window.__textNodes.size") == 1
    assert page.script("return window.__deltaMutations") >= 50
