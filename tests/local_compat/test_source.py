"""The source over real directories: listing, paging, lookup, caching and damaged stores."""

from __future__ import annotations

import errno
import json
import os
import threading

import pytest

from registry_core.errors import InvalidCursor, RuntimeUnavailable, UnknownWorker
from registry_core.identifiers import is_valid_identifier
from runtime_registry.runtimes.local_compat import (
    ACTIVE,
    INACTIVE,
    LocalCompatSettings,
    LocalCompatSource,
    pod_store,
    worker_id_for,
)
from runtime_registry.runtimes.local_compat.cursor import decode_cursor

from .conftest import PodTree, all_pages, codes, full_metadata

# -- the shared examples ---------------------------------------------------------------


def test_the_examples_list_the_workers_of_their_workspace(examples: LocalCompatSettings) -> None:
    items, _ = all_pages(LocalCompatSource(examples))
    assert [(w.label, w.status, w.role, w.profile) for w in items] == [
        ("coder-7", ACTIVE, "coder", "builtin:coder"),
        ("intake", INACTIVE, "intake", "builtin:intake"),
    ]


def test_the_examples_report_the_corrupt_and_the_foreign_entry(examples: LocalCompatSettings) -> None:
    _, diagnostics = all_pages(LocalCompatSource(examples))
    assert codes(diagnostics) == {"local_metadata_corrupt", "local_other_workspace"}


# -- paging ------------------------------------------------------------------------------


def test_pages_cover_every_worker_once_in_id_order(tree: PodTree) -> None:
    expected = sorted(tree.add(f"w{i:02d}") for i in range(25))
    items, _ = all_pages(tree.source(), limit=10)
    assert [w.worker_id for w in items] == expected


def test_a_page_holds_at_most_limit_workers_and_a_cursor_when_more_remain(tree: PodTree) -> None:
    for i in range(5):
        tree.add(f"w{i}")
    page = tree.source().page(limit=2, cursor=None)
    assert len(page.items) == 2 and page.next_cursor is not None


def test_the_last_page_has_no_cursor(tree: PodTree) -> None:
    tree.add("only")
    assert tree.source().page(limit=5, cursor=None).next_cursor is None


def test_an_empty_store_is_one_empty_page(tree: PodTree) -> None:
    page = tree.source().page(limit=5, cursor=None)
    assert (page.items, page.next_cursor, page.diagnostics) == ((), None, ())


def test_a_cursor_survives_the_removal_of_the_last_listed_worker(tree: PodTree) -> None:
    for name in ("a", "b", "c", "d"):
        tree.add(name)
    source = tree.source()
    first = source.page(limit=2, cursor=None)
    removed = first.items[-1].label
    os.remove(tree.metadata_path(removed))
    os.rmdir(os.path.dirname(tree.metadata_path(removed)))
    second = source.page(limit=2, cursor=first.next_cursor)
    assert [w.label for w in second.items] == ["c", "d"]


def test_a_cursor_never_spells_out_a_skipped_entry(tree: PodTree) -> None:
    tree.add("aaa-listed")
    tree.add("mmm-foreign-secret-name", workspace_root="/elsewhere")
    tree.add("zzz-listed")
    page = tree.source(scan_budget=2).page(limit=5, cursor=None)
    assert page.next_cursor is not None
    assert "foreign" not in decode_cursor(page.next_cursor)


def test_a_bad_cursor_is_an_invalid_cursor(tree: PodTree) -> None:
    with pytest.raises(InvalidCursor):
        tree.source().page(limit=5, cursor="not-a-cursor")


def test_a_cursor_past_the_end_is_an_empty_final_page(tree: PodTree) -> None:
    tree.add("a")
    from runtime_registry.runtimes.local_compat.cursor import encode_cursor

    page = tree.source().page(limit=5, cursor=encode_cursor("zzzz"))
    assert (page.items, page.next_cursor) == ((), None)


def test_skipped_entries_do_not_shorten_a_page(tree: PodTree) -> None:
    for i in range(5):
        tree.add(f"foreign{i}", workspace_root="/elsewhere")
        tree.add(f"mine{i}")
    page = tree.source().page(limit=5, cursor=None)
    assert len(page.items) == 5


def test_the_scan_budget_bounds_the_entries_examined_per_page(tree: PodTree) -> None:
    for i in range(30):
        tree.add(f"a-foreign{i:02d}", workspace_root="/elsewhere")
    tree.add("z-mine")
    source = tree.source(scan_budget=10)
    page = source.page(limit=5, cursor=None)
    assert page.items == () and page.next_cursor is not None
    assert "local_scan_budget_reached" in codes(page.diagnostics)
    items, _ = all_pages(source, limit=5)
    assert [w.label for w in items] == ["z-mine"]


def test_a_page_opens_only_the_entries_it_examines(tree: PodTree, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(200):
        tree.add(f"w{i:03d}")
    opened = count_projections(monkeypatch)
    tree.source().page(limit=5, cursor=None)
    assert len(opened) == 5


# -- lookup --------------------------------------------------------------------------------


def test_a_listed_worker_is_found_by_its_id(tree: PodTree) -> None:
    worker_id = tree.add("coder")
    assert tree.source().find(worker_id).label == "coder"


@pytest.mark.parametrize("worker_id", ["coder-0000000000000000", "conformance-no-such-worker", "x"])
def test_an_unknown_id_is_unknown_worker(tree: PodTree, worker_id: str) -> None:
    tree.add("coder")
    with pytest.raises(UnknownWorker):
        tree.source().find(worker_id)


def test_a_worker_of_another_workspace_is_unknown_by_id(tree: PodTree) -> None:
    worker_id = tree.add("foreign", workspace_root="/elsewhere")
    with pytest.raises(UnknownWorker):
        tree.source().find(worker_id)


def test_a_corrupt_worker_is_unknown_by_id(tree: PodTree) -> None:
    worker_id = tree.add_raw("broken", b"{")
    with pytest.raises(UnknownWorker):
        tree.source().find(worker_id)


def test_lookup_sees_a_worker_added_after_the_first_listing(tree: PodTree) -> None:
    tree.add("first")
    tree.settle()
    source = tree.source()
    source.page(limit=5, cursor=None)
    worker_id = tree.add("second")
    assert source.find(worker_id).label == "second"


# -- caching ----------------------------------------------------------------------------------


def count_projections(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Record every metadata file the store parses."""
    parsed: list[bytes] = []
    original = pod_store.project_metadata

    def counting(raw: bytes, **kwargs):
        parsed.append(kwargs["directory_name"])
        return original(raw, **kwargs)

    monkeypatch.setattr(pod_store, "project_metadata", counting)
    return parsed


def test_a_settled_unchanged_file_is_parsed_once(tree: PodTree, monkeypatch: pytest.MonkeyPatch) -> None:
    tree.add("w")
    tree.settle()
    parsed = count_projections(monkeypatch)
    source = tree.source()
    for _ in range(3):
        source.page(limit=5, cursor=None)
    assert parsed == [b"w"]


def test_a_rewritten_file_is_parsed_again(tree: PodTree) -> None:
    worker_id = tree.add("w")
    tree.settle()
    source = tree.source()
    assert source.find(worker_id).status == ACTIVE
    with open(tree.metadata_path("w"), "w") as file:
        json.dump(full_metadata("w", active=None), file)
    assert source.find(worker_id).status == INACTIVE


def test_a_file_written_just_now_is_not_cached(tree: PodTree) -> None:
    # Its stat could stay the same through another write in the same tick.
    tree.add("fresh")
    source = tree.source()
    source.page(limit=5, cursor=None)
    assert source.cached_results == 0


def test_the_cache_holds_at_most_cache_entries(tree: PodTree) -> None:
    for i in range(10):
        tree.add(f"w{i}")
    tree.settle()
    source = tree.source(cache_entries=4)
    all_pages(source)
    assert source.cached_results == 4


def test_cache_entries_zero_disables_the_cache(tree: PodTree) -> None:
    tree.add("w")
    tree.settle()
    source = tree.source(cache_entries=0)
    source.page(limit=5, cursor=None)
    assert source.cached_results == 0


# -- damaged stores -------------------------------------------------------------------------------


def test_a_missing_data_dir_is_unusable_with_a_diagnostic(tmp_path) -> None:
    source = LocalCompatSource(LocalCompatSettings(data_dir=str(tmp_path / "nope"), workspace_root="/w"))
    health = source.health()
    assert not health.usable and codes(health.diagnostics) == {"local_data_dir_missing"}


def test_a_missing_data_dir_lists_an_empty_page_with_an_error_diagnostic(tmp_path) -> None:
    source = LocalCompatSource(LocalCompatSettings(data_dir=str(tmp_path / "nope"), workspace_root="/w"))
    page = source.page(limit=5, cursor=None)
    assert page.items == () and page.next_cursor is None
    assert [d.severity.value for d in page.diagnostics] == ["error"]


def test_a_missing_data_dir_makes_lookup_unavailable(tmp_path) -> None:
    source = LocalCompatSource(LocalCompatSettings(data_dir=str(tmp_path / "nope"), workspace_root="/w"))
    with pytest.raises(RuntimeUnavailable):
        source.find(worker_id_for(b"w"))


def test_a_data_dir_that_is_a_file_is_unusable(tmp_path) -> None:
    (tmp_path / "file").write_text("x")
    source = LocalCompatSource(LocalCompatSettings(data_dir=str(tmp_path / "file"), workspace_root="/w"))
    assert codes(source.health().diagnostics) == {"local_data_dir_not_a_directory"}


def test_a_data_dir_without_pods_is_usable_and_empty(tmp_path) -> None:
    source = LocalCompatSource(LocalCompatSettings(data_dir=str(tmp_path), workspace_root="/w"))
    health = source.health()
    assert health.usable and codes(health.diagnostics) == {"local_pods_missing"}
    assert source.page(limit=5, cursor=None).items == ()


def test_an_unreadable_pods_directory_is_unusable(tree: PodTree, monkeypatch: pytest.MonkeyPatch) -> None:
    # The tests may run as root, for whom permissions do not apply: simulate EACCES.
    def refuse(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, "denied")

    monkeypatch.setattr(pod_store.os, "scandir", refuse)
    source = tree.source()
    assert codes(source.health().diagnostics) == {"local_data_dir_unreadable"}
    assert codes(source.page(limit=5, cursor=None).diagnostics) == {"local_data_dir_unreadable"}


def test_an_unreadable_metadata_file_is_skipped(tree: PodTree, monkeypatch: pytest.MonkeyPatch) -> None:
    tree.add("locked")
    tree.add("open")
    real_open = os.open
    locked = tree.metadata_path("locked")

    def guarded_open(path, flags, *args, **kwargs):
        if os.fsencode(path) == locked:
            raise PermissionError(errno.EACCES, "denied")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(pod_store.os, "open", guarded_open)
    items, diagnostics = all_pages(tree.source())
    assert [w.label for w in items] == ["open"] and codes(diagnostics) == {"local_metadata_unreadable"}


def test_a_fifo_named_metadata_json_is_skipped_without_blocking(tree: PodTree) -> None:
    os.mkdir(tree.pods / "fifo")
    os.mkfifo(tree.pods / "fifo" / "metadata.json")
    result: list = []
    reader = threading.Thread(target=lambda: result.append(all_pages(tree.source())), daemon=True)
    reader.start()
    reader.join(timeout=5)
    assert result, "reading a FIFO blocked the source"
    assert codes(result[0][1]) == {"local_metadata_unreadable"}


def test_a_metadata_json_that_is_a_directory_is_skipped(tree: PodTree) -> None:
    os.makedirs(tree.pods / "dir" / "metadata.json")
    _, diagnostics = all_pages(tree.source())
    assert codes(diagnostics) == {"local_metadata_unreadable"}


def test_a_plain_file_in_pods_is_skipped_as_not_a_directory(tree: PodTree) -> None:
    (tree.pods / "README").write_text("hello")
    _, diagnostics = all_pages(tree.source())
    assert codes(diagnostics) == {"local_entry_not_a_directory"}


def test_a_pod_directory_without_metadata_is_skipped(tree: PodTree) -> None:
    (tree.pods / "empty").mkdir()
    _, diagnostics = all_pages(tree.source())
    assert codes(diagnostics) == {"local_metadata_missing"}


def test_a_metadata_file_over_the_size_bound_is_skipped_unread(tree: PodTree, monkeypatch: pytest.MonkeyPatch) -> None:
    tree.add("huge", full_metadata("huge", padding="x" * 5000))
    parsed = count_projections(monkeypatch)
    _, diagnostics = all_pages(tree.source(max_metadata_bytes=1024))
    assert codes(diagnostics) == {"local_metadata_too_large"} and parsed == []


def test_a_pod_symlink_leading_outside_the_data_dir_is_skipped(tree: PodTree, tmp_path) -> None:
    outside = tmp_path / "outside" / "escaped"
    outside.mkdir(parents=True)
    (outside / "metadata.json").write_text(json.dumps(full_metadata("escaped")))
    os.symlink(outside, tree.pods / "escaped")
    items, diagnostics = all_pages(tree.source())
    assert items == [] and codes(diagnostics) == {"local_entry_outside_data_dir"}


def test_a_metadata_symlink_leading_outside_the_data_dir_is_skipped(tree: PodTree, tmp_path) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps(full_metadata("linked")))
    (tree.pods / "linked").mkdir()
    os.symlink(secret, tree.pods / "linked" / "metadata.json")
    items, diagnostics = all_pages(tree.source())
    assert items == [] and codes(diagnostics) == {"local_entry_outside_data_dir"}


def test_a_pod_symlink_inside_the_data_dir_is_followed(tree: PodTree) -> None:
    archived = tree.data_dir / "archive" / "kept"
    archived.mkdir(parents=True)
    (archived / "metadata.json").write_text(json.dumps(full_metadata("kept")))
    os.symlink(archived, tree.pods / "kept")
    items, _ = all_pages(tree.source())
    assert [w.label for w in items] == ["kept"]


def test_a_dangling_pod_symlink_is_skipped(tree: PodTree) -> None:
    os.symlink(tree.data_dir / "gone", tree.pods / "dangling")
    items, diagnostics = all_pages(tree.source())
    assert items == [] and codes(diagnostics) == {"local_metadata_missing"}


@pytest.mark.parametrize(
    "name",
    [b"ctl\x1b[2J\x07name", b"bad-utf8-\xff\xfe", b"n" * 255, "日本語-worker".encode(), b"..."],
    ids=["control", "non-utf8", "255-bytes", "non-ascii", "dots"],
)
def test_odd_names_are_listed_with_valid_ids_and_clean_labels(tree: PodTree, name: bytes) -> None:
    tree.add(name)
    items, _ = all_pages(tree.source())
    assert len(items) == 1
    worker = items[0]
    assert is_valid_identifier(worker.worker_id) and worker.worker_id == worker_id_for(name)
    assert worker.label is not None and len(worker.label) <= 80
    assert not any(ord(ch) < 0x20 or ch in "/\\" for ch in worker.label)


def test_a_worker_with_an_odd_name_is_found_by_its_id(tree: PodTree) -> None:
    worker_id = tree.add(b"odd\xff\x01name")
    assert tree.source().find(worker_id).worker_id == worker_id


def test_pod_entries_beyond_max_pod_entries_are_ignored_with_a_diagnostic(tree: PodTree) -> None:
    for i in range(12):
        tree.add(f"w{i:02d}")
    items, diagnostics = all_pages(tree.source(max_pod_entries=10))
    assert len(items) == 10 and "local_pods_truncated" in codes(diagnostics)


def test_a_store_of_thousands_of_entries_pages_through_all_of_them(tree: PodTree) -> None:
    for i in range(2000):
        os.mkdir(tree.pods / f"w{i:05d}")
    (tree.pods / "w00007" / "metadata.json").write_text(json.dumps(full_metadata("w00007")))
    items, diagnostics = all_pages(tree.source(scan_budget=500), limit=200)
    assert [w.label for w in items] == ["w00007"]
    assert codes(diagnostics) >= {"local_metadata_missing", "local_scan_budget_reached"}


def test_a_symlink_loop_in_pods_is_skipped(tree: PodTree) -> None:
    os.symlink(tree.pods / "loop-b", tree.pods / "loop-a")
    os.symlink(tree.pods / "loop-a", tree.pods / "loop-b")
    tree.add("fine")
    items, diagnostics = all_pages(tree.source())
    assert [w.label for w in items] == ["fine"]
    assert codes(diagnostics) == {"local_metadata_unreadable"}


def test_a_lookup_by_id_opens_only_that_worker(tree: PodTree, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = [tree.add(f"w{i:03d}") for i in range(100)]
    parsed = count_projections(monkeypatch)
    tree.source().find(ids[42])
    assert parsed == [b"w042"]
