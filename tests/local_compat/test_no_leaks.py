"""Nothing secret leaves the runtime: every output built from the examples and our own trees is scanned.

"Every output" means summaries (running and degraded), every page and its
diagnostics, every worker detail, the cross-runtime overview, and every error
a client can provoke (bad cursors, unknown ids, unsupported operations).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from registry_core import CreateWorkerRequest, InputRequest, RegistryError, unstructure
from runtime_registry.host import RuntimeRegistry
from runtime_registry.plugins.local_compat import LocalCompatProvider
from runtime_registry.runtimes.local_compat import LocalCompatSettings, worker_id_for
from runtime_registry.testing.conformance import find_path_like

from .conftest import (
    EXAMPLE_WORKSPACE,
    EXAMPLES,
    SECRET_CALLBACK,
    SECRET_PROVIDER_KEY,
    SECRET_SCOPE,
    SECRET_SEGMENT,
    SECRET_SESSION,
    SECRET_SOCKET,
    WORKSPACE,
    PodTree,
    full_metadata,
)

RUNTIME = "local-worker-runtime"


#: Fields of the format whose values must never be shown.
SECRET_FIELDS = {"session_id", "segment_id", "workspace_root", "socket_path", "callback_address", "target", "provider"}


def example_secrets() -> set[str]:
    """Every value of a secret field in the shared examples (and the pieces of paths among them)."""
    secrets: set[str] = set()

    def collect(value: Any) -> None:
        if isinstance(value, str):
            secrets.add(value)
            secrets.update(part for part in value.split("/") if len(part) > 3)
        elif isinstance(value, dict):
            for item in value.values():
                collect(item)
        elif isinstance(value, list):
            for item in value:
                collect(item)

    def visit(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                (collect if key in SECRET_FIELDS else visit)(item)
        elif isinstance(value, list):
            for item in value:
                visit(item)

    for path in EXAMPLES.glob("pods/*/metadata.json"):
        try:
            visit(json.loads(path.read_text()))
        except ValueError:
            continue
    assert {"OPENAI_API_KEY", "/srv/workspaces/alpha", "0f8e6c1e-3f0a-4d7e-9a55-2b1f4c7d9e10"} <= secrets
    return secrets


def own_secrets(data_dir: Path) -> set[str]:
    return {
        SECRET_SESSION,
        SECRET_SEGMENT,
        SECRET_SOCKET,
        SECRET_CALLBACK,
        SECRET_SCOPE,
        SECRET_PROVIDER_KEY,
        WORKSPACE,
        "secret-workspace",
        str(data_dir),
        "very-secret-child",
        "/etc/yoi",
        "secret-profile-file",
        "foreign-workspace-root",
    }


async def every_output(settings: LocalCompatSettings) -> list[Any]:
    """Everything a client could see of a runtime over ``settings``, errors included."""
    registry = RuntimeRegistry()
    registry.register(LocalCompatProvider(RUNTIME, settings), display_name="Local workers")
    outputs: list[Any] = []

    async def attempt(call) -> None:
        try:
            outputs.append(unstructure(await call))
        except RegistryError as error:
            outputs.append(error.to_dict())

    async with registry:
        await attempt(registry.describe_runtime(RUNTIME))
        await attempt(registry.list_runtimes())
        cursor, worker_ids = None, []
        for _ in range(1000):
            page = await registry.list_workers(RUNTIME, limit=1, cursor=cursor)
            outputs.append(unstructure(page))
            worker_ids.extend(w.worker_id for w in page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        await attempt(registry.list_all_workers(limit=1))
        hidden = (
            [worker_id_for(os.fsencode(entry)) for entry in os.listdir(os.fsencode(Path(settings.data_dir) / "pods"))]
            if (Path(settings.data_dir) / "pods").is_dir()
            else []
        )
        for worker_id in [*worker_ids, *hidden, "missing-0000000000000000"]:
            await attempt(registry.get_worker(RUNTIME, worker_id))
            await attempt(registry.send_input(RUNTIME, worker_id, InputRequest("hi")))
            await attempt(registry.stop_worker(RUNTIME, worker_id))
            await attempt(registry.read_transcript(RUNTIME, worker_id))
        await attempt(registry.create_worker(RUNTIME, CreateWorkerRequest()))
        await attempt(registry.read_events(RUNTIME))
        for bad in ("garbage", "bGMxOi8vZXRj", "x" * 400, str(settings.data_dir)):
            await attempt(registry.list_workers(RUNTIME, cursor=bad))
    return outputs


def assert_clean(outputs: list[Any], secrets: set[str]) -> None:
    text = json.dumps(outputs, ensure_ascii=False)
    assert find_path_like(outputs) == []
    leaked = sorted(secret for secret in secrets if secret in text)
    assert leaked == []


def odd_tree(root: Path) -> PodTree:
    """A tree with every secret field filled, odd names, hints that are paths and damaged entries."""
    tree = PodTree(root)
    tree.add("plain")
    tree.add("pending", active={"session_id": SECRET_SESSION})
    tree.add(b"odd\xff\x1b[31mname")
    tree.add(
        "path-hint", resolved_manifest_snapshot={"role": "r", "profile_selector": "/etc/yoi/secret-profile-file.toml"}
    )
    tree.add("foreign", workspace_root="/foreign-workspace-root")
    tree.add_raw("corrupt", b'{"worker_name": "corrupt", "socket_path": "' + SECRET_SOCKET.encode())
    tree.add("huge", full_metadata("huge", padding="y" * 5000))
    (tree.pods / "not-a-dir").write_text(SECRET_SOCKET)
    os.symlink(root, tree.pods / "escape")
    return tree


async def test_the_examples_leak_nothing(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "data")
    settings = LocalCompatSettings(data_dir=str(tmp_path / "data"), workspace_root=EXAMPLE_WORKSPACE)
    outputs = await every_output(settings)
    assert_clean(outputs, example_secrets() | {str(tmp_path)})


async def test_our_tree_with_every_secret_field_leaks_nothing(tmp_path: Path) -> None:
    tree = odd_tree(tmp_path)
    outputs = await every_output(tree.settings(max_metadata_bytes=4096))
    assert_clean(outputs, own_secrets(tree.data_dir))


async def test_a_missing_data_dir_leaks_nothing(tmp_path: Path) -> None:
    settings = LocalCompatSettings(data_dir=str(tmp_path / "missing-data-dir"), workspace_root=WORKSPACE)
    outputs = await every_output(settings)
    assert_clean(outputs, {str(tmp_path), "missing-data-dir", WORKSPACE})


async def test_a_data_dir_that_is_a_file_leaks_nothing(tmp_path: Path) -> None:
    (tmp_path / "data-file").write_text("x")
    settings = LocalCompatSettings(data_dir=str(tmp_path / "data-file"), workspace_root=WORKSPACE)
    assert_clean(await every_output(settings), {str(tmp_path), "data-file"})


def test_the_scan_itself_would_catch_a_leak() -> None:
    # Guard against a scan that cannot fail.
    with pytest.raises(AssertionError):
        assert_clean([{"message": f"cannot read {SECRET_SOCKET}"}], {SECRET_SOCKET})
    with pytest.raises(AssertionError):
        assert_clean([{"message": SECRET_SESSION}], {SECRET_SESSION})
