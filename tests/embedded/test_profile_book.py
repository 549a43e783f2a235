"""One engine-profile type (issue 17): the book resolves selectors to ``EngineProfile`` and keeps engines and tools beside them."""

from __future__ import annotations

import warnings

import attrs
import pytest

from registry_core import EngineProfile, InvalidRequest, UnknownProfile
from registry_core.tools import WorkerTool
from runtime_registry.runtimes.embedded import EmbeddedRuntime, EmbeddedSettings, ProfileBase, ProfileSettings
from runtime_registry.runtimes.embedded.builtin_engines import BUILTIN_ENGINES, ECHO, RECORD
from runtime_registry.runtimes.embedded.profiles import BUILTIN_PROFILES, ProfileBook, engine_profile


async def _clock(_arguments):
    return "12:00"


CLOCK = WorkerTool("clock", "Says the time", {"type": "object", "properties": {}}, _clock)


def book(**profiles: ProfileSettings) -> ProfileBook:
    return ProfileBook(profiles, "builtin:default", engines=BUILTIN_ENGINES, tools={"clock": CLOCK})


def test_every_profile_resolves_to_an_engine_profile_with_its_description():
    profiles = book(slow=ProfileSettings(base=ProfileBase.ECHO, reply_delay_seconds=2.0, description="Slow echo"))
    slow = profiles.resolve("slow")
    assert type(slow) is EngineProfile
    assert (slow.name, slow.engine, slow.reply_delay_seconds, slow.description) == ("slow", "echo", 2.0, "Slow echo")
    assert (
        profiles.resolve(None) is profiles.resolve("default") is profiles.default is BUILTIN_PROFILES["builtin:default"]
    )
    assert profiles.resolve("builtin:echo").description == "replies with the input"


def test_the_book_keeps_the_engine_tools_and_reply_rule_by_profile():
    profiles = book(quiet=ProfileSettings(), loud=ProfileSettings(base=ProfileBase.ECHO))
    quiet, loud = profiles.resolve("quiet"), profiles.resolve("loud")
    assert (profiles.engine(quiet), profiles.engine(loud)) == (RECORD, ECHO)
    assert (profiles.replies(quiet), profiles.entries_per_turn(quiet)) == (False, 1)
    assert (profiles.replies(loud), profiles.entries_per_turn(loud)) == (True, 2)
    assert profiles.tools(quiet) == {}


def test_a_removed_profile_resolves_to_the_default_by_name():
    profiles = book()
    assert profiles.by_name("gone") is profiles.default
    assert profiles.by_name("default") is profiles.default
    with pytest.raises(UnknownProfile):
        profiles.resolve("gone")


def test_engine_profile_copies_every_setting_of_the_table():
    settings = ProfileSettings(
        engine="echo",
        max_turn_seconds=5.0,
        max_tool_rounds=3,
        max_history_bytes=10,
        reply_delay_seconds=0.5,
        description="d",
    )
    profile = engine_profile("p", settings)
    shared = set(attrs.fields_dict(EngineProfile)) & set(attrs.fields_dict(ProfileSettings))
    # Every key the table and the resolved type share is carried over, options and tools as immutable copies.
    for name in shared - {"engine", "options", "tools"}:
        assert getattr(profile, name) == getattr(settings, name), name
    assert (profile.engine, profile.options, profile.tools) == ("echo", {}, ())


def test_a_profile_an_engine_refuses_is_a_configuration_error_at_its_key():
    with pytest.raises(InvalidRequest) as refused:
        book(bad=ProfileSettings(base=ProfileBase.ECHO, model="gpt"))
    assert refused.value.details == (
        {"path": "profiles.bad.model", "message": "the 'echo' engine calls no model and takes no model"},
    )


async def test_a_worker_holds_the_engine_profile_its_turns_read():
    runtime = EmbeddedRuntime(EmbeddedSettings(profiles={"e": ProfileSettings(base=ProfileBase.ECHO)}))
    try:
        created = await runtime.create_worker(profile="e")
        assert created.worker.profile is runtime.profiles.resolve("e")
    finally:
        await runtime.close()


def test_the_names_of_0_3_still_import_with_a_deprecation_warning():
    from runtime_registry.runtimes import embedded
    from runtime_registry.runtimes.embedded import profiles

    for module in (embedded, profiles):
        for name in ("Profile", "Resolution"):
            with pytest.warns(DeprecationWarning, match=f"{name} is deprecated since 0.4"):
                getattr(module, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        legacy = profiles.Profile("p", ECHO, EngineProfile("p", "echo"))
    assert (legacy.replies, legacy.entries_per_turn) == (True, 2)
    with pytest.raises(AttributeError):
        embedded.NoSuchName  # noqa: B018


def test_a_profile_built_in_python_may_name_its_base_by_value_as_toml_does():
    from runtime_registry.runtimes.embedded.settings import ProfileBase, ProfileSettings

    assert ProfileSettings(base="builtin:echo").base is ProfileBase.ECHO  # type: ignore[arg-type]
    assert ProfileSettings(base="builtin:echo").engine_name == "echo"  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ProfileSettings(base="builtin:nothing")  # type: ignore[arg-type]
