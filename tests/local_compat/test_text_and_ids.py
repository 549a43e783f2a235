"""Worker ids, display text and cursors: the values built from untrusted names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_core.errors import InvalidCursor
from registry_core.identifiers import is_valid_identifier
from runtime_registry.runtimes.local_compat.cursor import decode_cursor, encode_cursor, separator_between
from runtime_registry.runtimes.local_compat.display_text import DISPLAY_MAX_CHARS, display_text
from runtime_registry.runtimes.local_compat.worker_ids import looks_like_a_local_worker_id, worker_id_for

# What a directory name can be on POSIX: any bytes but '/' and NUL, 1-255 of them.
directory_names = st.binary(min_size=1, max_size=255).filter(lambda b: b"/" not in b and b"\0" not in b)


@given(directory_names)
def test_every_directory_name_gets_a_valid_local_worker_id(name: bytes) -> None:
    worker_id = worker_id_for(name)
    assert is_valid_identifier(worker_id) and looks_like_a_local_worker_id(worker_id)


@given(directory_names, directory_names)
def test_different_names_get_different_ids(first: bytes, second: bytes) -> None:
    assert (worker_id_for(first) == worker_id_for(second)) == (first == second)


def test_ids_are_stable_across_calls_and_processes() -> None:
    # A fixed value: the id scheme must not change between releases (bookmarks, scripts).
    assert worker_id_for(b"coder-7") == "coder-7-f259e4e04793590e"


def test_names_that_sanitize_alike_get_different_ids() -> None:
    assert worker_id_for(b"a b") != worker_id_for(b"a_b") != worker_id_for(b"a\nb")


def test_the_id_prefix_is_the_readable_part_of_the_name() -> None:
    assert worker_id_for(b"review bot #2").startswith("review_bot_2-")


def test_a_name_with_nothing_readable_gets_a_generic_prefix() -> None:
    assert worker_id_for("日本語".encode()).startswith("worker-")


@given(st.text(max_size=2000))
def test_display_text_has_no_control_characters_or_separators_and_is_bounded(value: str) -> None:
    text = display_text(value)
    if text is not None:
        assert len(text) <= DISPLAY_MAX_CHARS
        assert not any(ch in "/\\" or ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in text)


def test_display_text_removes_bidi_overrides_and_zero_width_characters() -> None:
    assert display_text("abc\u202edef\u200b") == "abcdef"


def test_display_text_marks_a_cut_with_an_ellipsis() -> None:
    text = display_text("x" * 200)
    assert text is not None and len(text) == DISPLAY_MAX_CHARS and text.endswith("…")


def test_display_text_of_nothing_displayable_is_none() -> None:
    assert display_text("\x00\x01//\\") is None


ids = st.from_regex(r"[A-Za-z0-9_-]{1,60}", fullmatch=True)


@given(ids, ids)
def test_the_cursor_separator_sorts_between_its_neighbours(first: str, second: str) -> None:
    last, following = sorted((first, second))
    if last == following:
        return
    key = separator_between(last, following)
    assert last <= key < following


@given(ids)
def test_a_cursor_decodes_to_its_position(position: str) -> None:
    assert decode_cursor(encode_cursor(position)) == position


@pytest.mark.parametrize(
    "cursor",
    ["", "!!!", "bGMxOg", "x" * 300, "aGVsbG8", encode_cursor("ok")[:-1] + "=", "bGMxOi8vZXRj", "\u00e9"],
    ids=["empty", "not-base64", "empty-position", "too-long", "no-magic", "padding", "slash-position", "non-ascii"],
)
def test_a_cursor_this_runtime_did_not_issue_is_an_invalid_cursor(cursor: str) -> None:
    with pytest.raises(InvalidCursor) as raised:
        decode_cursor(cursor)
    assert raised.value.details[0]["path"] == "cursor"
    if cursor:
        assert cursor not in raised.value.message
