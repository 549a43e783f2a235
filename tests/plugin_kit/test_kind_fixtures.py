"""The fixtures runtime-registry's pytest plugin offers kind authors: kind_plugin, kind_registry, kind_app.

Run as an author runs them: real pytest sessions (subprocesses) over a test
module that uses the fixtures, with the built-in ``embedded`` plugin module as
the plugin under test.
"""

from __future__ import annotations

pytest_plugins = ["pytester"]

#: pytest-asyncio in auto mode, as the template and the example configure it; no cache dir in the temp project.
OPTIONS = ("-p", "no:cacheprovider", "-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function")

CONFTEST = """
import pytest
from runtime_registry.plugins import embedded


@pytest.fixture
def kind_plugin():
    return embedded
"""

AUTHOR_TESTS = """
from registry_core import CreateWorkerRequest, InputRequest


async def test_a_registry_with_my_kind(kind_registry):
    async with kind_registry(settings={"max_workers": 2}) as registry:
        worker = await registry.create_worker("test", CreateWorkerRequest(profile="builtin:echo"))
        await registry.send_input("test", worker.worker_id, InputRequest("hi"))
        assert (await registry.describe_runtime("test")).limits.max_workers == 2


async def test_two_runtimes_of_my_kind(kind_registry):
    async with kind_registry(runtime_ids=("a", "b")) as registry:
        assert registry.runtime_ids == ("a", "b")


async def test_an_app_serving_my_kind(kind_app):
    async with kind_app(settings={"max_workers": 1}, token="t0ken-for-the-fixture-test") as client:
        created = await client.post("/api/runtimes/test/workers", json={})
        full = await client.post("/api/runtimes/test/workers", json={})
    assert (created.status_code, full.status_code) == (201, 409)


async def test_the_plugin_can_be_given_directly(kind_app):
    from runtime_registry.plugins import local_compat

    async with kind_app(local_compat, settings={"data_dir": "/nonexistent-root", "workspace_root": "/w"}) as client:
        assert (await client.get("/api/runtimes/test")).json()["kind"] == "local-compat"
"""


def test_the_fixtures_serve_and_register_the_plugin_under_test(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_my_kind=AUTHOR_TESTS)
    result = pytester.runpytest_subprocess(*OPTIONS)
    result.assert_outcomes(passed=4)


def test_without_an_override_of_kind_plugin_the_failure_says_what_to_do(pytester):
    pytester.makepyfile(
        test_my_kind="""
async def test_it(kind_registry):
    async with kind_registry():
        pass
"""
    )
    result = pytester.runpytest_subprocess(*OPTIONS)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*override the kind_plugin fixture in your conftest.py*"])


def test_bad_settings_fail_with_the_field_named(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_my_kind="""
import pytest
from runtime_registry.host import ConfigError


async def test_it(kind_registry):
    with pytest.raises(ConfigError, match="runtimes.0..settings.max_workers: must be at least 1"):
        async with kind_registry(settings={"max_workers": 0}):
            pass
"""
    )
    pytester.runpytest_subprocess(*OPTIONS).assert_outcomes(passed=1)


def test_p_no_runtime_registry_turns_the_fixtures_off(pytester):
    pytester.makepyfile(test_my_kind="def test_it(kind_registry):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:runtime_registry", *OPTIONS)
    result.stdout.fnmatch_lines(["*fixture 'kind_registry' not found*"])
