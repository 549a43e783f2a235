"""docs/plugins.md, "Write a turn engine instead", works as written."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

from registry_core import CreateWorkerRequest, InputRequest
from registry_core.models import InputContent, ProfileSelector
from runtime_registry.host import assemble, discover_plugins, parse_config
from runtime_registry.host.plugin_loading import DiscoveredPlugin

TUTORIAL = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
BLOCK = re.compile(r"^```\w*\n# engine tutorial: (?P<name>\S+)\n(?P<text>.*?)^```", re.MULTILINE | re.DOTALL)
R = "backend-internal"


def chapter_files() -> dict[str, str]:
    return {match["name"]: match["text"] for match in BLOCK.finditer(TUTORIAL.read_text())}


@pytest.fixture
async def registry():
    files = chapter_files()
    module = types.ModuleType("acme_shout")
    exec(compile(files["acme_shout.py"], "acme_shout.py", "exec"), module.__dict__)
    sys.modules.setdefault("acme_shout", module)
    discovered = (
        *(p for p in discover_plugins() if p.name == "embedded"),
        DiscoveredPlugin("shout", "1.0.0", "acme-shout", load=lambda: module),
    )
    assembly = assemble(parse_config(files["registry.toml"]), discovered=discovered, strict=True)
    async with assembly.registry as registry:
        yield registry


async def run_turn(registry, worker: str, text: str) -> None:
    """Send ``text`` and wait for the turn's end event (the feed shows it once committed, decision 0111)."""
    accepted = await registry.send_input(R, worker, InputRequest(InputContent(text)))
    ends = {"worker.turn_completed", "worker.turn_failed", "worker.turn_cancelled"}
    async with asyncio.timeout(5):
        while not any(
            e.type in ends for e in (await registry.read_events(R, worker_id=worker, cursor=accepted.event_id)).events
        ):
            await asyncio.sleep(0.005)


async def test_the_chapter_has_its_files():
    assert set(chapter_files()) == {"acme_shout.py", "registry.toml", "test_acme_shout.py"}


def test_the_chapters_own_tests_pass_with_the_engine_harness(tmp_path):
    # The chapter's engine and its tests (FakeTurn, engine_runtime), written out and run by pytest.
    files = chapter_files()
    for name in ("acme_shout.py", "test_acme_shout.py"):
        (tmp_path / name).write_text(files[name])
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_mode=auto",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            str(tmp_path),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}, "PYTHONPATH": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "4 passed" in result.stdout


async def test_the_engine_replies_remembers_and_streams(registry):
    live = registry.open_live_events(R)
    worker = (await registry.create_worker(R, CreateWorkerRequest(profile=ProfileSelector("loud")))).worker_id
    await run_turn(registry, worker, "hello there")
    await run_turn(registry, worker, "again")
    page = await registry.read_transcript(R, worker)
    assert [(e.role, e.content) for e in page.items][-1] == ("assistant", "AGAIN!! (input 2)")
    deltas = [e.data["text"] for e in live.take(up_to=2**62) if e.type == "worker.output_delta"]
    assert "".join(deltas) == "HELLO THERE AGAIN "


async def test_the_engine_fails_with_its_own_code(registry):
    worker = (await registry.create_worker(R, CreateWorkerRequest(profile=ProfileSelector("loud")))).worker_id
    await run_turn(registry, worker, "!")
    events = (await registry.read_events(R, worker_id=worker)).events
    assert events[-1].type == "worker.turn_failed"
    assert {key: events[-1].data[key] for key in ("code", "engine_code", "message")} == {
        "code": "engine_error",
        "engine_code": "shout.nothing_to_shout",
        "message": "give me words to shout",
    }


async def test_the_engine_is_cancelled_at_its_await(registry):
    worker = (await registry.create_worker(R, CreateWorkerRequest(profile=ProfileSelector("loud")))).worker_id
    await registry.send_input(R, worker, InputRequest(InputContent("a b c d e f g h")))
    await asyncio.sleep(0.02)
    assert (await registry.cancel_worker(R, worker)).changed
    page = await registry.read_transcript(R, worker)
    assert [e.role for e in page.items] == ["user"]
