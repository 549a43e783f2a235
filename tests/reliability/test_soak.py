"""A short soak: mixed load on the real server, then the same load again; nothing may grow.

The configuration is small (60 workers, 40 transcript entries each, 1,500
retained events), so the warm-up saturates it: every worker slot taken, most
transcripts full, the event log at its retention. From then on, whatever the
load does, the server holds a bounded amount of state, so its resident memory
must stay flat and its open file descriptors must come back to where they
started once the clients hang up. No answer outside the contract is allowed.

The long version, with figures, is ``tests/benchmarks/soak.py``.
"""

from __future__ import annotations

import pytest

from ..support.server_process import running_server
from .app_config import EMBEDDED, embedded_toml, write_config
from .mixed_load import run_mixed_load

WARM_UP_SECONDS = 4.0
LOAD_SECONDS = 7.0
#: The saturated state is about 2 MiB; a leak of 1 KiB per request would add ~10 MiB here.
RSS_GROWTH_LIMIT_KIB = 8 * 1024


@pytest.fixture
def server(tmp_path):
    config = write_config(
        tmp_path,
        embedded_toml(max_workers=60, max_transcript_entries=40, event_retention=1500, slow_delay_seconds=0.05),
    )
    with running_server(config, log=tmp_path / "server.log") as served:
        yield served


async def test_a_saturated_server_under_mixed_load_stays_flat_in_memory_and_descriptors(server):
    fds_at_start = await server.settled_fds()
    warm_up = await run_mixed_load(server.base_url, EMBEDDED, seconds=WARM_UP_SECONDS, seed=1)
    rss_warm = server.rss_kib()
    load = await run_mixed_load(server.base_url, EMBEDDED, seconds=LOAD_SECONDS, seed=2)
    rss_end = server.rss_kib()
    fds_at_end = await server.settled_fds(at_most=fds_at_start)

    assert warm_up.errors == [] and load.errors == [], (warm_up.errors, load.errors)
    assert warm_up.outcomes[("create", 409, "capacity_exceeded")] > 0, "the warm-up did not saturate the runtime"
    assert load.requests > 1000
    assert rss_end - rss_warm < RSS_GROWTH_LIMIT_KIB, f"RSS grew from {rss_warm} to {rss_end} KiB"
    assert fds_at_end <= fds_at_start, f"descriptors: {fds_at_start} at start, {fds_at_end} at the end"
    assert "Traceback" not in server.log_text()
