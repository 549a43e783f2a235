"""Screenshots of each console view for docs/console.md, from a real run: a server with data in it and headless chromium.

Run from the repository root (needs chromium and chromium-driver)::

    .venv/bin/python -m tests.console.screenshots

It writes docs/images/console/*.png (small: about 1100x650 pixels, PNG as chromium writes it).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from .browser import browser_paths, chromium
from .conftest import EMBEDDED, Page, api, console_config, console_server, create_worker, wait_idle

OUT = Path(__file__).resolve().parents[2] / "docs" / "images" / "console"
TOKEN = "screenshot-token"


def populate(base_url: str) -> tuple[str, str]:
    """Workers with labels and transcripts; returns (a worker with a finished tool turn, one that will stream)."""
    with api(base_url) as client:
        for label in ("triage bot", "nightly report", "release notes draft"):
            worker = create_worker(client, profile="builtin:echo", label=label)
            client.post(
                f"/api/runtimes/{EMBEDDED}/workers/{worker['worker_id']}/input", json={"content": f"hello, {label}"}
            )
        tooling = create_worker(client, profile="tooling", label="clock reader", capabilities=["tool:clock"])
        client.post(
            f"/api/runtimes/{EMBEDDED}/workers/{tooling['worker_id']}/input", json={"content": "What time is it?"}
        )
        wait_idle(client, tooling["worker_id"])
        streaming = create_worker(client, profile="drip", label="streaming assistant")
        client.post(
            f"/api/runtimes/{EMBEDDED}/workers/{streaming['worker_id']}/input", json={"content": "Summarise the week"}
        )
        wait_idle(client, streaming["worker_id"])
        return tooling["worker_id"], streaming["worker_id"]


def shoot(page: Page, name: str) -> None:
    page.script("window.scrollTo(0, 0)")
    time.sleep(0.4)  # let the last paint settle
    page.driver.save_screenshot(str(OUT / f"{name}.png"))
    print(f"wrote {OUT / name}.png")


def main() -> int:
    paths = browser_paths()
    if paths is None:
        print("needs chromium and chromium-driver", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder, chromium(paths) as driver:
        driver.set_window_size(1100, 800)
        page = Page(driver)
        with console_server(console_config(Path(folder))) as base_url:
            tooling, streaming = populate(base_url)
            page.open(base_url, "/runtimes")
            page.wait(f'[data-runtime="{EMBEDDED}"]', text="running")
            page.find(f'[data-runtime="{EMBEDDED}"] details summary').click()
            shoot(page, "runtimes")
            page.open(base_url, f"/runtimes/{EMBEDDED}/workers")
            page.wait(".pager-status", text="Page 1")
            shoot(page, "workers")
            page.open(base_url, f"/runtimes/{EMBEDDED}/workers/{tooling}")
            page.wait("#entries .turn-note.usage")
            page.find("#entries details.role-tool_call summary").click()
            shoot(page, "worker-tools")
            page.open(base_url, f"/runtimes/{EMBEDDED}/workers/{streaming}")
            page.wait("#stream-state", text="Live")
            page.find("#input").send_keys("And the week before?")
            page.find("#send").click()
            page.wait(".live-turn .streaming", text="piece12")
            shoot(page, "worker-streaming")
            page.wait("#entries .turn-note.usage", text="turn 2")
            page.open(base_url, f"/runtimes/{EMBEDDED}/events")
            page.wait("#event-rows", text="worker.turn_completed")
            shoot(page, "events")
            driver.get("about:blank")
        with console_server(console_config(Path(folder) / "guarded", token=TOKEN)) as base_url:
            page.open(base_url, "/runtimes")
            page.wait("#login")
            page.find("#token").send_keys("a wrong token")
            page.find("#sign-in").click()
            page.wait("#login .error", text="401")
            shoot(page, "login")
            driver.get("about:blank")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
