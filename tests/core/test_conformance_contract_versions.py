"""A kind is held to the contract its conformance class declares; newer rules warn (decision 0162)."""

from __future__ import annotations

import warnings

import pytest

from runtime_registry.testing.conformance import ContractViolation, NewerContractWarning
from runtime_registry.testing.conformance.harness import CONTRACT_VERSIONS, CheckSpec, conformance_check

from .test_conformance_breaches import TurnStartedWithoutItsNumber
from .test_conformance_reference import ReferenceConformance

CHECK = "test_event_data_follows_the_event_contract"


def suite_declaring(version: str | None) -> ReferenceConformance:
    suite = ReferenceConformance()
    suite.provider_type = TurnStartedWithoutItsNumber  # type: ignore[assignment]
    if version is not None:
        suite.contract_version = version
    return suite


def test_a_breach_of_a_rule_newer_than_the_declared_contract_warns_and_passes():
    suite = suite_declaring("0.2")
    with pytest.warns(NewerContractWarning) as caught:
        getattr(suite, CHECK)()
    message = str(caught[0].message)
    assert "lacks the required field 'turn'" in message
    assert "contract_version = '0.3'" in message and "declares contract_version = '0.2'" in message


def test_the_same_breach_fails_a_kind_that_declares_the_rules_contract():
    with pytest.raises(ContractViolation, match="lacks the required field 'turn'"):
        getattr(suite_declaring("0.3"), CHECK)()


def test_an_undeclared_kind_is_held_to_the_0_2_contract():
    from runtime_registry.testing import RuntimeConformance

    assert RuntimeConformance.contract_version == "0.2"


def test_a_kind_that_follows_the_newer_rule_gets_no_warning():
    suite = ReferenceConformance()
    suite.contract_version = "0.2"
    with warnings.catch_warnings():
        warnings.simplefilter("error", NewerContractWarning)
        getattr(suite, CHECK)()


def test_a_misspelt_contract_version_is_an_error_not_a_silently_older_contract():
    suite = suite_declaring("0.30")
    with pytest.raises(ValueError, match=r"contract_version must be one of \('0.1', '0.2', '0.3'\)"):
        getattr(suite, CHECK)()


def test_a_check_names_a_contract_version_that_exists():
    with pytest.raises(ValueError, match="since"):
        CheckSpec(since="0.9")
    with pytest.raises(ValueError, match="since"):
        conformance_check(since="1")


def test_every_check_of_the_suite_names_a_known_contract_version():
    from runtime_registry.testing import RuntimeConformance

    specs = [getattr(RuntimeConformance, name).__conformance_check__ for name in RuntimeConformance.check_names()]
    assert {spec.since for spec in specs} <= set(CONTRACT_VERSIONS)
    assert any(spec.since == "0.3" for spec in specs)
