"""Pod-store trees for the local-compat tests: the shared examples and trees built per test."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from runtime_registry.runtimes.local_compat import LocalCompatSettings, LocalCompatSource, worker_id_for

#: The shared sample tree (workspace root ``/srv/workspaces/alpha``).
EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "pod_store_examples"
EXAMPLE_WORKSPACE = "/srv/workspaces/alpha"
#: The workspace of the trees built by :class:`PodTree`.
WORKSPACE = "/home/operator/projects/secret-workspace"
#: Strings from the fixtures that must never reach a client.
SECRET_SESSION = "7a1b2c3d-0000-4000-8000-5e55104a11d1"
SECRET_SEGMENT = "9f8e7d6c-1111-4111-8111-5e6e9e47a11d"
SECRET_SOCKET = "/run/user/1000/yoi/very-secret-child.sock"
SECRET_CALLBACK = "unix:/run/user/1000/yoi/secret-callback"
SECRET_SCOPE = "/home/operator/projects/secret-workspace/private-scope"
SECRET_PROVIDER_KEY = "SECRET_PROVIDER_TOKEN_ENV"


def full_metadata(name: str, **overrides: Any) -> dict[str, Any]:
    """Metadata of an active worker of :data:`WORKSPACE` with every secret field filled in."""
    data: dict[str, Any] = {
        "worker_name": name,
        "active": {"session_id": SECRET_SESSION, "segment_id": SECRET_SEGMENT},
        "workspace_root": WORKSPACE,
        "spawned_children": [
            {
                "worker_name": f"{name}-child",
                "socket_path": SECRET_SOCKET,
                "scope_delegated": [{"target": SECRET_SCOPE, "permission": "write", "recursive": True}],
                "callback_address": SECRET_CALLBACK,
            }
        ],
        "reclaimed_children": [{"worker_name": "old", "scope_delegated": [{"target": SECRET_SCOPE}]}],
        "peers": [{"worker_name": "peer"}],
        "resolved_manifest_snapshot": {
            "role": "coder",
            "profile_selector": {"name": "builtin:coder"},
            "provider": {"kind": "openai", "api_key_env": SECRET_PROVIDER_KEY},
        },
    }
    data.update(overrides)
    return data


class PodTree:
    """A data directory under a test's tmp_path, with helpers to add pod entries."""

    def __init__(self, root: Path) -> None:
        self.data_dir = root / "data"
        self.pods = self.data_dir / "pods"
        self.pods.mkdir(parents=True)

    def settings(self, **overrides: Any) -> LocalCompatSettings:
        """Settings for this tree and :data:`WORKSPACE`."""
        return LocalCompatSettings(**{"data_dir": str(self.data_dir), "workspace_root": WORKSPACE, **overrides})

    def source(self, **overrides: Any) -> LocalCompatSource:
        """A fresh source (empty caches) over this tree."""
        return LocalCompatSource(self.settings(**overrides))

    def add(self, name: str | bytes, metadata: dict[str, Any] | None = None, **overrides: Any) -> str:
        """Add a worker directory with metadata (default: :func:`full_metadata`); return its worker id."""
        raw_name = os.fsencode(name)
        if metadata is None:
            metadata = full_metadata(os.fsdecode(raw_name), **overrides)
        return self.add_raw(raw_name, json.dumps(metadata).encode())

    def add_raw(self, name: str | bytes, content: bytes) -> str:
        """Add a worker directory whose metadata.json holds ``content``; return the id of its name."""
        raw_name = os.fsencode(name)
        directory = os.path.join(os.fsencode(self.pods), raw_name)
        os.mkdir(directory)
        with open(os.path.join(directory, b"metadata.json"), "wb") as file:
            file.write(content)
        return worker_id_for(raw_name)

    def metadata_path(self, name: str | bytes) -> bytes:
        """The metadata file of a pod entry."""
        return os.path.join(os.fsencode(self.pods), os.fsencode(name), b"metadata.json")

    def settle(self) -> None:
        """Date every file and directory of the tree a minute back, so stat-keyed caches trust them."""
        past = time.time() - 60
        for directory, subdirectories, files in os.walk(os.fsencode(self.data_dir)):
            for entry in [*subdirectories, *files]:
                os.utime(os.path.join(directory, entry), (past, past), follow_symlinks=False)
        os.utime(os.fsencode(self.pods), (past, past))


@pytest.fixture
def tree(tmp_path: Path) -> PodTree:
    """An empty pod store for :data:`WORKSPACE`."""
    return PodTree(tmp_path)


@pytest.fixture
def examples(tmp_path: Path) -> LocalCompatSettings:
    """Settings over a copy of the shared example tree."""
    copy = tmp_path / "examples"
    shutil.copytree(EXAMPLES, copy)
    return LocalCompatSettings(data_dir=str(copy), workspace_root=EXAMPLE_WORKSPACE)


def all_pages(source: LocalCompatSource, limit: int = 50) -> tuple[list, list]:
    """Every item and every page diagnostic, following cursors to the end."""
    items, diagnostics, cursor = [], [], None
    for _ in range(10_000):
        page = source.page(limit=limit, cursor=cursor)
        items.extend(page.items)
        diagnostics.extend(page.diagnostics)
        cursor = page.next_cursor
        if cursor is None:
            return items, diagnostics
    raise AssertionError("the listing never ended")


def codes(diagnostics) -> set[str]:
    """The diagnostic codes among ``diagnostics``."""
    return {diagnostic.code for diagnostic in diagnostics}
