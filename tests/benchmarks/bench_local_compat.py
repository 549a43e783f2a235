"""A page of 50 local workers out of 10,000 pod directories versus out of 100, in one run.

Run: python tests/benchmarks/bench_local_compat.py [--large 10000] [--small 100]
Goal (issue 4): a page costs about the same whatever the directory holds —
only the names are listed for every page (cached while the directory is
unchanged), and only the page's own metadata files are opened.

Scenarios, each on a tree of ``--large`` and of ``--small`` pod directories
with a realistic ~1 KiB metadata.json each (dated a minute back, so the
stat-keyed caches trust them):

- cold: a new source per page (empty listing and metadata caches; the OS
  page cache is warm — we do not drop it on a shared machine);
- warm: the same source, the same page again (listing and metadata cached);
- first page and a middle page (the cursor at the tree's midpoint);
- changing directory: the pods directory's mtime is fresh, so the listing
  cache is not trusted and every page re-lists the names (the worst steady case);
- through the registry: warm first page via ``RuntimeRegistry.list_workers``
  (adds the hop to the runtime's disk thread and the model conversion).

Figures are the median of several rounds; "per extra directory" is
(large - small) / (large - small directories).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from runtime_registry.host import RuntimeRegistry
from runtime_registry.plugins.local_compat import LocalCompatProvider
from runtime_registry.runtimes.local_compat import LocalCompatSettings, LocalCompatSource, worker_id_for
from runtime_registry.runtimes.local_compat.cursor import encode_cursor

PAGE = 50
WORKSPACE = "/srv/workspaces/alpha"


def metadata(name: str, index: int) -> bytes:
    """A realistic metadata.json (about 1 KiB), a third of them active."""
    data = {
        "worker_name": name,
        "workspace_root": WORKSPACE,
        "spawned_children": [
            {
                "worker_name": f"{name}-child",
                "socket_path": f"{WORKSPACE}/.yoi/run/{name}-child.sock",
                "scope_delegated": [{"target": f"{WORKSPACE}/src", "permission": "write", "recursive": True}],
                "callback_address": f"{WORKSPACE}/.yoi/run/{name}.callback",
            }
        ],
        "peers": [{"worker_name": "intake"}],
        "resolved_manifest_snapshot": {
            "role": "coder",
            "profile_selector": {"name": "builtin:coder"},
            "provider": {"kind": "openai", "api_key_env": "OPENAI_API_KEY"},
            "notes": "x" * 400,
        },
    }
    if index % 3 == 0:
        data["active"] = {"session_id": "0f8e6c1e-3f0a-4d7e-9a55-2b1f4c7d9e10", "segment_id": "5b2d9a44"}
    return json.dumps(data, indent=2).encode()


def build_tree(root: Path, count: int) -> tuple[LocalCompatSettings, list[str]]:
    """``count`` pod directories under ``root``; the settings and the sorted worker ids."""
    pods = root / "pods"
    pods.mkdir(parents=True)
    past = time.time() - 60
    for index in range(count):
        name = f"worker-{index:06d}"
        directory = pods / name
        directory.mkdir()
        (directory / "metadata.json").write_bytes(metadata(name, index))
        os.utime(directory / "metadata.json", (past, past))
        os.utime(directory, (past, past))
    os.utime(pods, (past, past))
    ids = sorted(worker_id_for(f"worker-{index:06d}".encode()) for index in range(count))
    return LocalCompatSettings(data_dir=str(root), workspace_root=WORKSPACE), ids


def median_seconds(run: Callable[[], object], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def page_times(settings: LocalCompatSettings, ids: list[str], rounds: int) -> dict[str, float]:
    """Seconds per page in each scenario."""
    middle = encode_cursor(ids[(len(ids) - PAGE) // 2])
    times: dict[str, float] = {}

    def cold(cursor: str | None) -> Callable[[], object]:
        return lambda: check(LocalCompatSource(settings).page(limit=PAGE, cursor=cursor))

    times["cold, first page"] = median_seconds(cold(None), rounds)
    times["cold, middle page"] = median_seconds(cold(middle), rounds)
    warm = LocalCompatSource(settings)
    warm.page(limit=PAGE, cursor=None)
    warm.page(limit=PAGE, cursor=middle)
    times["warm, first page"] = median_seconds(lambda: check(warm.page(limit=PAGE, cursor=None)), rounds * 10)
    times["warm, middle page"] = median_seconds(lambda: check(warm.page(limit=PAGE, cursor=middle)), rounds * 10)

    pods = Path(settings.data_dir) / "pods"
    os.utime(pods)  # a fresh mtime: the listing cache must not trust the directory
    changing = LocalCompatSource(settings)
    changing.page(limit=PAGE, cursor=None)
    times["changing dir, warm metadata"] = median_seconds(lambda: check(changing.page(limit=PAGE, cursor=None)), rounds)
    past = time.time() - 60
    os.utime(pods, (past, past))

    async def through_registry() -> float:
        registry = RuntimeRegistry()
        registry.register(LocalCompatProvider("local", settings))
        async with registry:
            await registry.list_workers("local", limit=PAGE)
            samples = []
            for _ in range(rounds * 10):
                started = time.perf_counter()
                page = await registry.list_workers("local", limit=PAGE)
                samples.append(time.perf_counter() - started)
                assert len(page.items) == PAGE
            return statistics.median(samples)

    times["warm, first page, via registry"] = asyncio.run(through_registry())
    return times


def check(page) -> None:
    assert len(page.items) == PAGE, "the page is short: the tree was not built as expected"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=15)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-local-compat-") as scratch:
        started = time.perf_counter()
        large = build_tree(Path(scratch) / "large", options.large)
        small = build_tree(Path(scratch) / "small", options.small)
        print(f"built {options.large} + {options.small} pod directories in {time.perf_counter() - started:.1f} s")
        small_times = page_times(*small, options.rounds)
        large_times = page_times(*large, options.rounds)
    extra = options.large - options.small
    print(f"\nA page of {PAGE} (median; ms per page)")
    print(f"{'scenario':34} {options.small:>8} dirs {options.large:>8} dirs {'ratio':>7} {'µs / extra dir':>15}")
    for scenario in small_times:
        small, large = small_times[scenario], large_times[scenario]
        print(
            f"{scenario:34} {small * 1e3:13.3f} {large * 1e3:13.3f} {large / small:7.2f}"
            f" {(large - small) / extra * 1e6:15.3f}"
        )


if __name__ == "__main__":
    main()
