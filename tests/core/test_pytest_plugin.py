"""runtime-registry's pytest plugin: registered through ``pytest11``, cheap to load, silent unless the suite is used.

Run through real pytest sessions in a temporary directory (subprocesses, so
that what a session imports is its own), and through fresh interpreters for
what importing the plugin loads.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import distribution

import pytest

from runtime_registry.testing import RuntimeConformance

from .test_conformance_suite import INNER_OPTIONS, author_tests

pytest_plugins = ["pytester"]

PLUGIN_MODULE = "runtime_registry.testing.pytest_plugin"

#: A test module of a project that has nothing to do with runtime kinds; it
#: reports, as a test, which of the suite's modules the session imported.
UNRELATED_TESTS = """
import sys


def test_the_session_did_not_import_the_suite_or_the_host():
    heavy = ("runtime_registry.testing.conformance", "runtime_registry.host", "registry_core", "cattrs", "attrs")
    assert sorted(name for name in sys.modules if name.startswith(heavy)) == []
"""


def modules_loaded_by(code: str) -> set[str]:
    """The modules outside the standard library that a fresh interpreter loads to run ``code``."""
    probe = "import json, sys; before = set(sys.modules); {code}; print(json.dumps(sorted(set(sys.modules) - before)))"
    result = subprocess.run([sys.executable, "-c", probe.format(code=code)], capture_output=True, text=True, check=True)
    return {name for name in json.loads(result.stdout) if name.split(".")[0] not in sys.stdlib_module_names}


def test_the_plugin_is_registered_as_a_pytest11_entry_point():
    entry_points = {ep.name: ep.value for ep in distribution("runtime-registry").entry_points if ep.group == "pytest11"}
    assert entry_points == {"runtime_registry": PLUGIN_MODULE}


def test_importing_the_plugin_loads_nothing_but_the_plugin_and_its_packages():
    assert modules_loaded_by(f"import {PLUGIN_MODULE}") == {
        "runtime_registry",
        "runtime_registry.testing",
        PLUGIN_MODULE,
    }


def test_the_path_detector_loads_without_the_suite():
    loaded = modules_loaded_by("from runtime_registry.testing import find_path_like")
    assert "runtime_registry.testing.conformance" not in loaded and "registry_core" not in loaded


def test_the_suite_loads_on_first_use_of_its_name():
    loaded = modules_loaded_by("import runtime_registry.testing as t; t.RuntimeConformance")
    assert {"runtime_registry.testing.conformance", "runtime_registry.host.registry"} <= loaded


def test_an_unknown_name_of_the_testing_package_is_an_attribute_error():
    import runtime_registry.testing

    with pytest.raises(AttributeError, match="no attribute 'Conformance'"):
        runtime_registry.testing.Conformance  # noqa: B018


def test_a_session_that_does_not_use_the_suite_does_not_import_it_and_says_nothing(pytester):
    pytester.makepyfile(test_unrelated=UNRELATED_TESTS)
    result = pytester.runpytest_subprocess(*INNER_OPTIONS)
    assert result.ret == 0
    # pytest itself lists the distribution among the plugins it loaded through entry points.
    result.stdout.fnmatch_lines(["plugins:*runtime-registry-*"])
    assert "conformance" not in result.stdout.str()


def test_a_session_that_collects_the_suite_says_how_many_checks_from_which_class(pytester):
    pytester.makepyfile(test_archive_conformance=author_tests("Archive"))
    result = pytester.runpytest_subprocess(*INNER_OPTIONS)
    checks = len(RuntimeConformance.check_names())
    result.stdout.fnmatch_lines(
        [f"runtime-registry conformance: {checks} checks from TestArchiveConformance ({checks})"]
    )
    assert result.ret == 0


def test_every_check_is_marked_so_that_m_selects_the_suite(pytester):
    pytester.makepyfile(
        test_archive_conformance=author_tests("Archive"), test_unrelated="def test_other():\n    pass\n"
    )
    checks = len(RuntimeConformance.check_names())
    only_suite = pytester.runpytest_subprocess(
        "--strict-markers", "-m", "conformance", "--collect-only", "-q", *INNER_OPTIONS
    )
    only_suite.stdout.fnmatch_lines([f"{checks}/{checks + 1} tests collected (1 deselected)*"])
    without = pytester.runpytest_subprocess("--strict-markers", "-m", "not conformance", *INNER_OPTIONS)
    without.assert_outcomes(passed=1, deselected=checks)


def test_the_marker_is_declared(pytester):
    result = pytester.runpytest_subprocess("--markers", *INNER_OPTIONS)
    result.stdout.fnmatch_lines(["@pytest.mark.conformance: a check of runtime-registry's conformance suite*"])


def test_p_no_runtime_registry_turns_the_plugin_off(pytester):
    pytester.makepyfile(test_archive_conformance=author_tests("Archive"))
    result = pytester.runpytest_subprocess("-p", "no:runtime_registry", *INNER_OPTIONS)
    assert result.ret == 0
    assert "runtime-registry conformance:" not in result.stdout.str()


def test_a_test_class_named_like_a_check_but_outside_the_suite_is_not_counted(pytester):
    pytester.makepyfile(
        test_lookalike="""
        from runtime_registry.testing import RuntimeConformance


        class TestLookalike:
            def test_summary_has_the_contract_shape(self):
                pass
        """
    )
    result = pytester.runpytest_subprocess("-m", "conformance", *INNER_OPTIONS)
    result.assert_outcomes(deselected=1)
