"""The ``local-compat`` kind as the registry sees it: discovery, settings, capabilities, health, rows."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from registry_core import (
    CreateWorkerRequest,
    InputRequest,
    IntentKind,
    RuntimeStatus,
    RuntimeTimeout,
    RuntimeUnavailable,
    UnsupportedOperation,
)
from runtime_registry.host import ConfigError, RuntimeRegistry, assemble, parse_config
from runtime_registry.plugins.local_compat import LocalCompatProvider
from runtime_registry.runtimes.local_compat import LocalCompatSettings

from .conftest import PodTree

RUNTIME = "local-worker-runtime"


def config_text(tree: PodTree, extra: str = "") -> str:
    return f"""
[plugins]
enabled = ["local-compat"]

[[runtimes]]
id = "{RUNTIME}"
kind = "local-compat"
display_name = "Local workers (read-only)"
settings = {{ data_dir = "{tree.data_dir}", workspace_root = "/home/operator/projects/secret-workspace"{extra} }}
"""


async def registry_over(settings: LocalCompatSettings, *, call_timeout: float = 10.0) -> RuntimeRegistry:
    registry = RuntimeRegistry(call_timeout=call_timeout)
    registry.register(LocalCompatProvider(RUNTIME, settings))
    await registry.start()
    return registry


# -- discovery and settings --------------------------------------------------------------


async def test_the_kind_is_discovered_through_its_entry_point(tree: PodTree) -> None:
    assembly = assemble(parse_config(config_text(tree)), strict=True)
    async with assembly.registry as registry:
        assert isinstance(registry.provider(RUNTIME), LocalCompatProvider)
        summary = await registry.describe_runtime(RUNTIME)
    assert (summary.kind, summary.plugin.name, summary.display_name) == (
        "local-compat",
        "local-compat",
        "Local workers (read-only)",
    )


async def test_settings_take_their_defaults(tree: PodTree) -> None:
    async with assemble(parse_config(config_text(tree)), strict=True).registry as registry:
        provider = registry.provider(RUNTIME)
    assert provider.settings.max_metadata_bytes == 1024 * 1024 and provider.limits.worker_page_max == 200


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        (", scan_budget = 0", "runtimes[0].settings.scan_budget"),
        (", worker_page_max = 5000", "runtimes[0].settings.worker_page_max"),
        (", surprise = 1", "runtimes[0].settings"),
    ],
)
def test_bad_settings_are_config_errors_naming_the_field(tree: PodTree, extra: str, field: str) -> None:
    with pytest.raises(ConfigError) as raised:
        assemble(parse_config(config_text(tree, extra)), strict=True)
    assert any(problem.path.startswith(field) for problem in raised.value.problems)


def test_a_relative_data_dir_is_a_config_error_at_the_settings_table(tree: PodTree) -> None:
    text = config_text(tree).replace(f'data_dir = "{tree.data_dir}"', 'data_dir = "relative/dir"')
    with pytest.raises(ConfigError) as raised:
        assemble(parse_config(text), strict=True)
    assert [(p.path, p.message.split(":")[0]) for p in raised.value.problems] == [("runtimes[0].settings", "data_dir")]


@pytest.mark.parametrize(
    "settings",
    [
        {"data_dir": "relative/dir", "workspace_root": "/w"},
        {"data_dir": "/d", "workspace_root": "w/relative"},
        {"data_dir": "/d", "workspace_root": "/w/../other"},
        {"data_dir": "/d\0", "workspace_root": "/w"},
    ],
    ids=["relative-data-dir", "relative-workspace", "dotdot-workspace", "nul"],
)
def test_paths_that_are_not_absolute_and_plain_are_refused(settings: dict) -> None:
    with pytest.raises(ValueError):
        LocalCompatSettings(**settings)


# -- capabilities ------------------------------------------------------------------------------


async def test_only_list_and_get_are_capabilities(tree: PodTree) -> None:
    registry = await registry_over(tree.settings())
    async with registry:
        capabilities = (await registry.describe_runtime(RUNTIME)).capabilities
    true = {name for name, value in vars_of(capabilities).items() if value}
    assert true == {"list_workers", "get_worker"}
    assert capabilities.busy_policies == ("reject",)


def vars_of(capabilities) -> dict[str, bool]:
    """The flags (``busy_policies`` is a list of the input policies, not a flag)."""
    return {
        name: getattr(capabilities, name)
        for name in capabilities.__slots__
        if not name.startswith("__") and name != "busy_policies"
    }


@pytest.mark.parametrize(
    "operation",
    ["create_worker", "send_input", "cancel_worker", "stop_worker", "read_transcript", "read_events", "worker_events"],
)
async def test_writing_and_streaming_operations_answer_unsupported(tree: PodTree, operation: str) -> None:
    worker_id = tree.add("w")
    calls = {
        "create_worker": lambda r: r.create_worker(RUNTIME, CreateWorkerRequest()),
        "send_input": lambda r: r.send_input(RUNTIME, worker_id, InputRequest("hi")),
        "cancel_worker": lambda r: r.cancel_worker(RUNTIME, worker_id),
        "stop_worker": lambda r: r.stop_worker(RUNTIME, worker_id),
        "read_transcript": lambda r: r.read_transcript(RUNTIME, worker_id),
        "read_events": lambda r: r.read_events(RUNTIME),
        "worker_events": lambda r: r.read_events(RUNTIME, worker_id=worker_id),
    }
    registry = await registry_over(tree.settings())
    async with registry:
        with pytest.raises(UnsupportedOperation):
            await calls[operation](registry)


async def test_nothing_is_written_to_the_data_dir(tree: PodTree) -> None:
    worker_id = tree.add("w")
    tree.settle()
    before = snapshot(tree.data_dir)
    registry = await registry_over(tree.settings())
    async with registry:
        await registry.list_workers(RUNTIME)
        await registry.get_worker(RUNTIME, worker_id)
        await registry.describe_runtime(RUNTIME)
    assert snapshot(tree.data_dir) == before


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.lstat().st_mtime_ns, p.lstat().st_size) for p in [root, *root.rglob("*")]}


# -- health ----------------------------------------------------------------------------------


async def test_a_readable_store_is_running(tree: PodTree) -> None:
    registry = await registry_over(tree.settings())
    async with registry:
        assert (await registry.describe_runtime(RUNTIME)).status is RuntimeStatus.RUNNING


async def test_a_missing_data_dir_is_degraded_not_unavailable(tmp_path: Path) -> None:
    registry = await registry_over(LocalCompatSettings(data_dir=str(tmp_path / "gone"), workspace_root="/w"))
    async with registry:
        summary = await registry.describe_runtime(RUNTIME)
        page = await registry.list_workers(RUNTIME)
    assert summary.status is RuntimeStatus.DEGRADED
    assert [d.code for d in summary.diagnostics] == ["local_data_dir_missing"]
    assert page.items == () and [d.code for d in page.diagnostics] == ["local_data_dir_missing"]


async def test_a_data_dir_that_appears_later_is_picked_up(tmp_path: Path) -> None:
    registry = await registry_over(
        LocalCompatSettings(data_dir=str(tmp_path / "later"), workspace_root="/home/operator/projects/secret-workspace")
    )
    async with registry:
        PodTree(tmp_path / "elsewhere").data_dir.rename(tmp_path / "later")
        assert (await registry.describe_runtime(RUNTIME)).status is RuntimeStatus.RUNNING


# -- rows ---------------------------------------------------------------------------------------


async def test_every_row_carries_the_kind_and_the_runtime(tree: PodTree) -> None:
    for i in range(3):
        tree.add(f"w{i}")
    registry = await registry_over(tree.settings())
    async with registry:
        rows = (await registry.list_workers(RUNTIME)).items + (await registry.list_all_workers()).items
    assert len(rows) == 6 and all((w.kind, w.runtime_id) == ("local-compat", RUNTIME) for w in rows)


async def test_a_row_has_the_role_as_intent_no_creation_time_and_no_transcript(tree: PodTree) -> None:
    worker_id = tree.add("w")
    registry = await registry_over(tree.settings())
    async with registry:
        worker = await registry.get_worker(RUNTIME, worker_id)
    assert (worker.intent.kind, worker.intent.role) == (IntentKind.ROLE, "coder")
    assert (worker.profile, worker.status, worker.created_at, worker.transcript_length) == (
        "builtin:coder",
        "active",
        None,
        0,
    )


async def test_a_worker_without_a_role_has_no_intent(tree: PodTree) -> None:
    worker_id = tree.add("w", resolved_manifest_snapshot={"profile": "p"})
    registry = await registry_over(tree.settings())
    async with registry:
        assert (await registry.get_worker(RUNTIME, worker_id)).intent is None


# -- the disk thread ---------------------------------------------------------------------------


async def test_concurrent_pages_agree(tree: PodTree) -> None:
    for i in range(40):
        tree.add(f"w{i:02d}")
    registry = await registry_over(tree.settings())
    async with registry:
        pages = await asyncio.gather(*(registry.list_workers(RUNTIME, limit=40) for _ in range(20)))
    assert len({tuple(w.worker_id for w in page.items) for page in pages}) == 1


async def test_a_hung_disk_times_out_then_is_refused_at_once_and_shows_as_degraded(tree: PodTree) -> None:
    provider = LocalCompatProvider(RUNTIME, tree.settings())
    provider.stuck_after_seconds = 0.05
    release = threading.Event()
    provider.source.page = lambda **_: release.wait(10)  # type: ignore[method-assign]
    registry = RuntimeRegistry(call_timeout=0.2)
    registry.register(provider)
    await registry.start()
    try:
        with pytest.raises(RuntimeTimeout):
            await registry.list_workers(RUNTIME)
        with pytest.raises(RuntimeUnavailable):
            await registry.list_workers(RUNTIME)
        summary = await registry.describe_runtime(RUNTIME)
        assert summary.status is RuntimeStatus.DEGRADED
        assert [d.code for d in summary.diagnostics] == ["local_store_not_answering"]
    finally:
        release.set()
        await registry.close()


async def test_the_runtime_recovers_when_the_disk_answers_again(tree: PodTree) -> None:
    tree.add("w")
    provider = LocalCompatProvider(RUNTIME, tree.settings())
    provider.stuck_after_seconds = 0.05
    release = threading.Event()
    original = provider.source.page
    provider.source.page = lambda **kw: (release.wait(10), original(**kw))[1]  # type: ignore[method-assign]
    registry = RuntimeRegistry(call_timeout=0.2)
    registry.register(provider)
    async with registry:
        with pytest.raises(RuntimeTimeout):
            await registry.list_workers(RUNTIME)
        release.set()
        await asyncio.sleep(0.05)
        assert len((await registry.list_workers(RUNTIME)).items) == 1


async def test_calls_after_close_are_unavailable(tree: PodTree) -> None:
    provider = LocalCompatProvider(RUNTIME, tree.settings())
    await provider.start()
    await provider.close()
    with pytest.raises(RuntimeUnavailable):
        await provider.list_workers(limit=5, cursor=None)
