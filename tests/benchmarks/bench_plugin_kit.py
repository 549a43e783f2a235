"""The plugin kit's costs, each against a baseline measured in the same run.

Run: python tests/benchmarks/bench_plugin_kit.py [--repeat N]

- Settings listing: ``describe_settings`` of the built-in kinds' settings
  classes, against ``load_plugins`` of the built-in plugins: what deriving the
  listing at load time would add to startup (it is derived on the first
  ``GET /api/plugins`` or ``plugins --json`` instead, and kept).
- Worker list pages: a page of 50 from the ``Roster`` block, 2,000 workers
  created and every other one deleted, against what the subprocess example
  did before the blocks (a list of ids and ``list.index`` of the cursor).
  The embedded runtime's own copy of the roster is gone (decision 0112); the
  block against it, measured in the same run before it went, is in
  docs/performance.md ("The store seam").

Best of ``--repeat`` rounds, each a ``timeit`` of many calls, in µs per call.
"""

from __future__ import annotations

import argparse
import timeit

from registry_core.blocks import Roster
from runtime_registry.host.kind_settings import describe_settings
from runtime_registry.host.plugin_loading import discover_plugins, load_plugins
from runtime_registry.runtimes.embedded import EmbeddedSettings
from runtime_registry.runtimes.local_compat import LocalCompatSettings

WORKERS = 2_000
PAGE = 50


def best(statement, number: int, repeat: int) -> float:
    return min(timeit.repeat(statement, number=number, repeat=repeat)) / number * 1e6


def settings_listing(repeat: int) -> None:
    discovered = [p for p in discover_plugins() if p.builtin]
    loading = best(lambda: load_plugins(discovered), 20, repeat)
    listing = best(lambda: (describe_settings(EmbeddedSettings), describe_settings(LocalCompatSettings)), 200, repeat)
    print(
        f"settings listing, 2 built-in kinds: {listing:8.1f} µs; load_plugins of the built-ins: {loading:8.1f} µs "
        f"(the listing would add {listing / loading:.0%}; it is derived on the first listing instead)"
    )


def list_pages(repeat: int) -> None:
    block: Roster[str] = Roster(first_serial=1)
    ids = [block.add(str) for _ in range(WORKERS)]
    for worker_id in ids[::2]:
        block.remove(worker_id)
    order = ids[1::2]  # the example's old way: ids in a list, the cursor found with list.index
    middle_block = block.page(cursor=None, limit=WORKERS // 4)[0][-1]
    block_cursor = block.page(cursor=None, limit=WORKERS // 4)[1]

    def old_way() -> list[str]:
        start = order.index(middle_block) + 1
        return order[start : start + PAGE]

    block_us = best(lambda: block.page(cursor=block_cursor, limit=PAGE), 2_000, repeat)
    old_us = best(old_way, 2_000, repeat)
    print(
        f"list page of {PAGE} mid-way, {WORKERS} created / half deleted: Roster block {block_us:6.2f} µs, "
        f"list + index {old_us:6.2f} µs ({block_us / old_us:.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    repeat = parser.parse_args().repeat
    settings_listing(repeat)
    list_pages(repeat)


if __name__ == "__main__":
    main()
