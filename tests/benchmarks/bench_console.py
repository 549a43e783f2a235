"""The web console in headless chromium: big lists and transcripts, and a fast stream (issue 19).

Run: .venv/bin/python tests/benchmarks/bench_console.py   (needs chromium and chromium-driver; a few minutes)

Measured, reported, never asserted (docs/performance.md, "The web console"):

- the workers view of a runtime holding 10,000 workers: time from navigation
  (``performance.now()`` counts from it) to the first page's 50 rows on screen,
  against the same view over 100 workers (goal: within 1 s);
- a worker view over a 10,000-entry transcript: time to its last page on screen
  and the entries the page holds (one page, not the transcript), against a
  100-entry transcript;
- a reply streamed at 50 deltas a second (200 deltas): deltas rendered, entry
  nodes rebuilt, and animation frames per second while it streams, against
  the same seconds idle.

The sides of each comparison alternate over ``BENCH_ROUNDS`` rounds (default 3);
medians are reported, since the machine is shared and its load drifts.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from tests.console.browser import browser_paths, chromium, wait_for  # noqa: E402
from tests.console.conftest import EMBEDDED, Page, api, console_config, console_server  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
MANY_WORKERS = 10_000
FEW = 100
LONG_TURNS = 5_000  # 10,000 entries


def fill_workers(base_url: str, runtime_extra_id: str, count: int) -> None:
    with api(base_url) as client:

        def create(_: int) -> None:
            client.post(f"/api/runtimes/{runtime_extra_id}/workers", json={"label": "bench"})

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(create, range(count)))


def fill_transcript(base_url: str, turns: int) -> str:
    with api(base_url) as client:
        worker = client.post(f"/api/runtimes/{EMBEDDED}/workers", json={"profile": "builtin:echo"}).json()
        path = f"/api/runtimes/{EMBEDDED}/workers/{worker['worker_id']}"
        for number in range(turns):
            while client.post(path + "/input", json={"content": f"entry {number}"}).status_code == 409:
                time.sleep(0.001)
        wait_for(lambda: client.get(path).json()["status"] == "idle", what="idle")
        return worker["worker_id"]


def first_rows_ms(page: Page, base_url: str, runtime_id: str) -> float:
    page.open(base_url, f"/runtimes/{runtime_id}/workers")
    return wait_for(
        lambda: page.script(
            "return document.querySelectorAll('table.workers tbody tr[data-worker]').length >= 50 && performance.now()"
        ),
        timeout=60,
        what="the first page",
    )


def last_page_ms(page: Page, base_url: str, worker_id: str, last: int) -> tuple[float, int]:
    page.open(base_url, f"/runtimes/{EMBEDDED}/workers/{worker_id}")
    took = wait_for(
        lambda: page.script(
            f"return document.querySelector('#entries [data-sequence=\"{last}\"]') && performance.now()"
        ),
        timeout=60,
        what="the last page",
    )
    return took, page.script("return document.querySelectorAll('#entries [data-sequence]').length")


FRAMES = """
window.__frames = 0; window.__counting = true;
const tick = () => { if (!window.__counting) return; window.__frames++; requestAnimationFrame(tick); };
requestAnimationFrame(tick);
"""


def stream_figures(page: Page, base_url: str) -> dict[str, float]:
    with api(base_url) as client:
        worker = client.post(f"/api/runtimes/{EMBEDDED}/workers", json={"profile": "burst"}).json()
    page.open(base_url, f"/runtimes/{EMBEDDED}/workers/{worker['worker_id']}")
    page.wait("#stream-state", text="Live")
    page.script(FRAMES)
    time.sleep(2)
    idle_fps = page.script("window.__counting = false; return window.__frames") / 2
    page.script(
        """
        window.__marked = [...document.querySelectorAll('#entries > *')]; window.__deltas = 0; window.__longest = '';
        new MutationObserver((rs) => {
          for (const r of rs) {
            if (r.type !== 'characterData') continue;
            window.__deltas++;
            if ((r.oldValue || '').length > window.__longest.length) window.__longest = r.oldValue;
          }
        }).observe(document.getElementById('live'), { characterData: true, characterDataOldValue: true, subtree: true });
        """
    )
    page.find("#input").send_keys("go")
    page.find("#send").click()
    page.wait(".live-turn .streaming", text="piece0")
    page.script(FRAMES)
    started = time.monotonic()
    page.wait('#entries [data-sequence="2"]', text="piece199", timeout=60)
    seconds = time.monotonic() - started
    streaming_fps = page.script("window.__counting = false; return window.__frames") / seconds
    return {
        "deltas_rendered": page.script("return window.__deltas"),
        "pieces_shown": page.script("return (window.__longest.match(/piece/g) || []).length"),
        "entries_rebuilt": page.script("return window.__marked.filter((n) => !n.isConnected).length"),
        "seconds": seconds,
        "idle_fps": idle_fps,
        "streaming_fps": streaming_fps,
    }


def main() -> int:
    paths = browser_paths()
    if paths is None:
        print("needs chromium and chromium-driver", file=sys.stderr)
        return 1
    extra = (
        '\n[[runtimes]]\nid = "few"\nkind = "embedded"\n[runtimes.settings]\nstore = { backend = "memory" }\n'
        f'\n[[runtimes]]\nid = "many"\nkind = "embedded"\n[runtimes.settings]\nmax_workers = {MANY_WORKERS + 10}\n'
        'store = { backend = "memory" }\n'
    )
    with tempfile.TemporaryDirectory() as folder, chromium(paths) as driver:
        page = Page(driver)
        config = console_config(Path(folder), store="memory", extra=extra)
        with console_server(config) as base_url:
            started = time.monotonic()
            fill_workers(base_url, "many", MANY_WORKERS)
            fill_workers(base_url, "few", FEW)
            long = fill_transcript(base_url, LONG_TURNS)
            short = fill_transcript(base_url, FEW // 2)
            print(f"filled in {time.monotonic() - started:.0f} s; load {os.getloadavg()[0]:.1f}")
            many, few, long_ms, short_ms, held = [], [], [], [], []
            for _ in range(ROUNDS):
                many.append(first_rows_ms(page, base_url, "many"))
                few.append(first_rows_ms(page, base_url, "few"))
                took, entries = last_page_ms(page, base_url, long, 2 * LONG_TURNS)
                long_ms.append(took)
                held.append(entries)
                short_ms.append(last_page_ms(page, base_url, short, FEW)[0])
            stream = stream_figures(page, base_url)
            driver.get("about:blank")
    many_ms, few_ms = statistics.median(many), statistics.median(few)
    print(
        f"workers view, first page: {MANY_WORKERS} workers {many_ms:.0f} ms, {FEW} workers {few_ms:.0f} ms (ratio {many_ms / few_ms:.2f})"
    )
    long_med, short_med = statistics.median(long_ms), statistics.median(short_ms)
    print(
        f"worker view, last page: {2 * LONG_TURNS} entries {long_med:.0f} ms holding {max(held)} entries; "
        f"{FEW} entries {short_med:.0f} ms (ratio {long_med / short_med:.2f})"
    )
    print(
        f"stream of 200 deltas at 50/s: {stream['deltas_rendered']} text changes, {stream['pieces_shown']} pieces "
        f"on screen before the final entry, in {stream['seconds']:.1f} s, "
        f"{stream['entries_rebuilt']} entries rebuilt; {stream['streaming_fps']:.0f} frames/s streaming, "
        f"{stream['idle_fps']:.0f} idle"
    )
    print(f"load average now: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
