"""Ids found valid are remembered (decision 0263): the answer never differs from the rule's pattern."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_core import identifiers
from registry_core.constraints import ID_PATTERN
from registry_core.errors import InvalidIdentifier
from registry_core.identifiers import is_valid_identifier, validate_identifier

_ID_TEXT = st.from_regex(r"[A-Za-z0-9_:\-]{1,130}", fullmatch=True)


def _rule(value: str) -> bool:
    return ID_PATTERN.compiled.search(value) is not None


@given(st.one_of(_ID_TEXT, st.text(max_size=130)))
def test_the_answer_is_the_pattern_s_first_and_again(value: str) -> None:
    expected = _rule(value)
    for _ in range(2):  # the second time, a valid id is answered from memory
        assert is_valid_identifier(value) is expected
        if expected:
            assert validate_identifier(value, field="worker_id") is value
        else:
            with pytest.raises(InvalidIdentifier):
                validate_identifier(value, field="worker_id")


class _PosingId(str):
    """A str subclass that hashes and compares as any id it is asked about."""

    def __hash__(self) -> int:
        return hash("w-known")

    def __eq__(self, other: object) -> bool:
        return True


def test_a_subclass_posing_as_a_known_id_is_checked_by_the_pattern() -> None:
    assert is_valid_identifier("w-known")
    posing = _PosingId("../etc/passwd")
    assert not is_valid_identifier(posing)
    with pytest.raises(InvalidIdentifier):
        validate_identifier(posing, field="worker_id")


def test_a_valid_subclass_is_valid_and_not_remembered() -> None:
    value = _PosingId("w-sub")
    assert is_valid_identifier(value)
    assert not any(type(known) is not str for known in identifiers._KNOWN_VALID)


def test_non_strings_are_refused() -> None:
    for value in (None, 1, b"w-1", ["w-1"]):
        assert not is_valid_identifier(value)
        with pytest.raises(InvalidIdentifier):
            validate_identifier(value, field="runtime_id")


def test_the_memory_is_bounded() -> None:
    for number in range(identifiers._KNOWN_VALID_MAX * 2 + 3):
        assert validate_identifier(f"w-{number}", field="worker_id") == f"w-{number}"
        assert len(identifiers._KNOWN_VALID) <= identifiers._KNOWN_VALID_MAX
    # Still answered after it was emptied.
    assert is_valid_identifier("w-0") and not is_valid_identifier("w 0")
