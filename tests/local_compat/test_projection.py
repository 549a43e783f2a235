"""The projection of one metadata.json: status, hints, workspace filter, corrupt files."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime_registry.runtimes.local_compat.metadata import (
    ACTIVE,
    ACTIVE_PENDING,
    INACTIVE,
    UNKNOWN,
    LocalWorker,
    project_metadata,
)
from runtime_registry.runtimes.local_compat.skips import SkipReason
from runtime_registry.runtimes.local_compat.workspace import workspace_parts

WORKSPACE = "/srv/ws/alpha"


def project(data: object, *, name: bytes = b"w1", raw: bytes | None = None) -> LocalWorker | SkipReason:
    content = raw if raw is not None else json.dumps(data).encode()
    return project_metadata(
        content, directory_name=name, worker_id="w1-0000000000000000", workspace=workspace_parts(WORKSPACE)
    )


def worker(**fields: object) -> LocalWorker:
    result = project({"worker_name": "w1", "workspace_root": WORKSPACE, **fields})
    assert isinstance(result, LocalWorker), result
    return result


def test_active_pointer_with_a_segment_is_active() -> None:
    assert worker(active={"session_id": "s", "segment_id": "g"}).status == ACTIVE


def test_active_pointer_without_a_segment_is_active_pending() -> None:
    assert worker(active={"session_id": "s"}).status == ACTIVE_PENDING


def test_active_pointer_with_a_null_segment_is_active_pending() -> None:
    assert worker(active={"session_id": "s", "segment_id": None}).status == ACTIVE_PENDING


@pytest.mark.parametrize("fields", [{}, {"active": None}])
def test_no_active_pointer_is_inactive(fields: dict) -> None:
    assert worker(**fields).status == INACTIVE


def test_an_active_pointer_of_the_wrong_type_is_unknown_with_a_diagnostic() -> None:
    result = worker(active="yes")
    assert result.status == UNKNOWN
    assert [d.code for d in result.diagnostics] == ["local_status_unreadable"]


def test_role_and_profile_selector_hints_are_shown() -> None:
    result = worker(resolved_manifest_snapshot={"role": "coder", "profile_selector": {"name": "builtin:coder"}})
    assert (result.role, result.profile) == ("coder", "builtin:coder")


def test_role_claim_and_profile_are_the_fallback_hints() -> None:
    result = worker(resolved_manifest_snapshot={"role_claim": {"role": "intake"}, "profile": "builtin:intake"})
    assert (result.role, result.profile) == ("intake", "builtin:intake")


def test_hints_of_the_wrong_type_are_left_out() -> None:
    result = worker(resolved_manifest_snapshot={"role": 7, "profile_selector": {"name": ["x"]}})
    assert (result.role, result.profile, result.diagnostics) == (None, None, ())


def test_a_hint_that_looks_like_a_path_is_withheld_with_a_diagnostic() -> None:
    result = worker(resolved_manifest_snapshot={"role": "coder", "profile_selector": "/etc/yoi/profiles/secret.toml"})
    assert result.profile is None
    assert [d.code for d in result.diagnostics] == ["local_hint_withheld"]
    assert "secret" not in repr(result)


def test_hints_lose_control_characters_and_are_bounded() -> None:
    result = worker(resolved_manifest_snapshot={"role": "co\x1b[31mder" + "x" * 500})
    assert result.role is not None and "\x1b" not in result.role and len(result.role) <= 80


def test_unknown_fields_are_ignored() -> None:
    assert worker(future_field={"anything": [1, 2]}, another=3).status == INACTIVE


def test_the_label_is_the_worker_name() -> None:
    assert worker().label == "w1"


def test_nothing_but_the_projection_is_kept() -> None:
    result = worker(
        active={"session_id": "SESSION-SECRET", "segment_id": "SEGMENT-SECRET"},
        spawned_children=[{"socket_path": "/x/y.sock", "callback_address": "CALLBACK-SECRET"}],
        resolved_manifest_snapshot={"role": "r", "provider": {"api_key_env": "KEY-SECRET"}},
    )
    assert "SECRET" not in repr(result) and "/x/y" not in repr(result)


@pytest.mark.parametrize("root", ["/srv/ws/alpha", "/srv/ws/alpha/", "/srv//ws/alpha//", "/srv/./ws/alpha"])
def test_the_same_workspace_matches_lexically(root: str) -> None:
    assert isinstance(project({"worker_name": "w1", "workspace_root": root}), LocalWorker)


@pytest.mark.parametrize(
    "root",
    ["/srv/ws/beta", "/srv/ws/alpha/sub", "/srv/ws/beta/../alpha", "srv/ws/alpha", "", 42, None, "/srv/ws/alpha\0"],
)
def test_another_workspace_or_an_unusable_root_is_skipped(root: object) -> None:
    assert project({"worker_name": "w1", "workspace_root": root}) is SkipReason.OTHER_WORKSPACE


def test_metadata_without_a_workspace_is_skipped() -> None:
    assert project({"worker_name": "w1"}) is SkipReason.OTHER_WORKSPACE


def test_a_worker_name_other_than_the_directory_is_skipped() -> None:
    assert project({"worker_name": "w2", "workspace_root": WORKSPACE}) is SkipReason.NAME_MISMATCH


def test_a_non_utf8_directory_name_matches_its_escaped_worker_name() -> None:
    data = {"worker_name": "w\udcff", "workspace_root": WORKSPACE}
    assert isinstance(project(data, name=b"w\xff"), LocalWorker)


@pytest.mark.parametrize(
    "raw",
    [
        b'{ "worker_name": "w1", "active": ',
        b"[1, 2]",
        b'"w1"',
        b'{"worker_name": 1}',
        b'{"workspace_root": "/srv/ws/alpha"}',
        b'{"worker_name": "w\xff1"}',
        b"[" * 100_000 + b"]" * 100_000,
        b"",
    ],
    ids=["truncated", "array", "string", "name-not-string", "no-name", "not-utf8", "deeply-nested", "empty"],
)
def test_corrupt_metadata_is_skipped(raw: bytes) -> None:
    assert project(None, raw=raw) is SkipReason.METADATA_CORRUPT


def test_a_utf8_byte_order_mark_is_accepted() -> None:
    raw = b"\xef\xbb\xbf" + json.dumps({"worker_name": "w1", "workspace_root": WORKSPACE}).encode()
    assert isinstance(project(None, raw=raw), LocalWorker)


MARKER = "SECRET-MARKER"
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20).map(lambda t: t + MARKER),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=10,
)


@settings(max_examples=100, deadline=None)
@given(
    active=json_values,
    children=json_values,
    manifest_rest=st.dictionaries(st.sampled_from(["provider", "tools", "env", "role_claim"]), json_values, max_size=3),
    extra=st.dictionaries(
        st.text(max_size=10).filter(lambda k: k not in ("worker_name", "workspace_root", "resolved_manifest_snapshot")),
        json_values,
        max_size=3,
    ),
)
def test_values_outside_the_projection_never_reach_the_worker(active, children, manifest_rest, extra) -> None:
    manifest = {**manifest_rest, "role": "coder", "profile_selector": {"name": "builtin:coder"}}
    data = {
        **extra,
        "worker_name": "w1",
        "workspace_root": WORKSPACE,
        "active": active,
        "spawned_children": children,
        "resolved_manifest_snapshot": manifest,
    }
    result = project(data)
    assert isinstance(result, LocalWorker)
    assert MARKER not in repr(result)
