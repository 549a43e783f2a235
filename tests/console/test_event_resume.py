"""The events view across a server restart: it resumes after the last event shown, or says cursor_expired plainly."""

from __future__ import annotations

from ..support.server_process import free_port
from .browser import wait_for
from .conftest import EMBEDDED, api, console_config, console_server, create_worker


def shown_ids(page) -> list[int]:
    return [int(row.get_attribute("data-id")) for row in page.find_all("#event-rows tr") if row.get_attribute("data-id")]


def test_the_event_view_resumes_after_the_server_restarts_without_a_gap_or_a_repeat(page, tmp_path):
    port = free_port()
    config = console_config(tmp_path)  # SQLite: event ids go on counting across the restart
    with console_server(config, port=port) as base_url:
        with api(base_url) as client:
            before = create_worker(client, label="before the restart")
        page.open(base_url, f"/runtimes/{EMBEDDED}/events")
        page.wait("#event-rows", text=before["worker_id"])
        page.wait("#events-state", text="Live")
        last_before = shown_ids(page)[-1]
    page.wait("#events-state", text="reconnecting", timeout=20)
    with console_server(config, port=port) as base_url:
        with api(base_url) as client:
            after = create_worker(client, label="after the restart")
        page.wait("#event-rows", text=after["worker_id"], timeout=30)
        state = page.wait("#events-state", text="Live")
        assert f"resumed after event {last_before}" in state.text
        ids = shown_ids(page)
        assert ids == sorted(ids) and len(ids) == len(set(ids))
        assert [i for i in ids if i > last_before], "the new event is shown once, after the old ones"


def test_a_resume_point_that_is_gone_is_said_plainly_with_a_way_on(page, tmp_path):
    port = free_port()
    config = console_config(tmp_path, store="memory")  # a memory store forgets every event at a restart
    with console_server(config, port=port) as base_url:
        with api(base_url) as client:
            create_worker(client, label="forgotten")
        page.open(base_url, f"/runtimes/{EMBEDDED}/events")
        page.wait("#events-state", text="Live")
        page.wait("#event-rows", text="worker.created")
    page.expect_http_errors(410)
    with console_server(config, port=port) as base_url:
        expired = page.wait("#events-state .expired", text="cursor_expired", timeout=30)
        assert "no longer retained" in expired.text
        assert page.script("return document.activeElement.id") == "resume-oldest"
        with api(base_url) as client:
            fresh = create_worker(client, label="after the gap")
        page.find("#resume-oldest").click()
        page.wait("#event-rows", text=fresh["worker_id"])
        wait_for(lambda: "Live" in page.find("#events-state").text, what="live again")
