"""The events view across a server restart: it resumes after the last event shown, or says cursor_expired plainly.

The server is the real CLI in its own process (``runtime-registry serve``), stopped with SIGTERM and started again
on the same port: what an operator's restart is (the open event stream is closed by the server's shutdown).
"""

from __future__ import annotations

from pathlib import Path

from ..support.remote_servers import server_on_port
from ..support.server_process import free_port
from .browser import wait_for
from .conftest import EMBEDDED, api, console_config, create_worker


def shown_ids(page) -> list[int]:
    return [
        int(row.get_attribute("data-id")) for row in page.find_all("#event-rows tr") if row.get_attribute("data-id")
    ]


def config_file(folder: Path, **kwargs) -> Path:
    path = folder / "console.toml"
    path.write_text(console_config(folder, drip=False, **kwargs))
    return path


def test_the_event_view_resumes_after_the_server_restarts_without_a_gap_or_a_repeat(page, tmp_path):
    page.expect_connection_refused()
    port, config, log = free_port(), config_file(tmp_path), tmp_path / "server.log"
    # SQLite (the default store): event ids go on counting across the restart.
    with server_on_port(port, config, log=log) as server:
        with api(server.base_url) as client:
            before = create_worker(client, label="before the restart")
        page.open(server.base_url, f"/runtimes/{EMBEDDED}/events")
        page.wait("#event-rows", text=before["worker_id"])
        page.wait("#events-state", text="Live")
        last_before = shown_ids(page)[-1]
    page.wait("#events-state", text="reconnecting", timeout=20)
    with server_on_port(port, config, log=log) as server:
        with api(server.base_url) as client:
            after = create_worker(client, label="after the restart")
        page.wait("#event-rows", text=after["worker_id"], timeout=30)
        state = page.wait("#events-state", text="Live")
        assert f"resumed after event {last_before}" in state.text
        ids = shown_ids(page)
        assert ids == sorted(ids) and len(ids) == len(set(ids))
        assert [i for i in ids if i > last_before], "the new event is shown once, after the old ones"


def test_a_resume_point_that_is_gone_is_said_plainly_with_a_way_on(page, tmp_path):
    page.expect_connection_refused()
    port, config, log = free_port(), config_file(tmp_path, store="memory"), tmp_path / "server.log"
    # A memory store forgets every event at a restart: the last id shown is no longer retained.
    with server_on_port(port, config, log=log) as server:
        with api(server.base_url) as client:
            create_worker(client, label="forgotten")
        page.open(server.base_url, f"/runtimes/{EMBEDDED}/events")
        page.wait("#events-state", text="Live")
        page.wait("#event-rows", text="worker.created")
    page.expect_http_errors(410)
    with server_on_port(port, config, log=log) as server:
        expired = page.wait("#events-state .expired", text="cursor_expired", timeout=30)
        assert "no longer retained" in expired.text
        assert page.script("return document.activeElement.id") == "resume-oldest"
        with api(server.base_url) as client:
            fresh = create_worker(client, label="after the gap")
        page.find("#resume-oldest").click()
        page.wait("#event-rows", text=fresh["worker_id"])
        wait_for(lambda: "Live" in page.find("#events-state").text, what="live again")
