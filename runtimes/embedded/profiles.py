"""Profiles: what a worker's turn does, and how a create request's selector is resolved.

A profile names the turn engine its workers' turns run through (``record``,
``echo``, ``llm`` or a third party's) and the engine's settings. Engines and
tools are resolved once, when the book is built: a name no plugin registered
is a configuration error, never a failed turn later.

Selectors (the contract's rules):

- omitted or ``"default"`` — the runtime's configured default profile;
- ``"builtin:NAME"`` — a builtin profile (``builtin:default``, ``builtin:echo``);
- ``"NAME"`` — a profile the operator configured;
- anything else — ``422 unknown_profile`` naming the closest names (before
  0.4 it fell back to the default with a ``profile_fallback`` diagnostic;
  the builtin default never replies, so a mistyped name looked like a dead
  worker).
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from registry_core.engines import EngineProfile, TurnEngine, check_profile
from registry_core.errors import InvalidRequest, UnknownProfile
from registry_core.models import ProfileInfo
from registry_core.tools import WorkerTool
from runtime_registry.runtimes.embedded.builtin_engines import BUILTIN_ENGINES, ECHO, RECORD
from runtime_registry.runtimes.embedded.settings import DEFAULT_SELECTOR, ProfileBase, ProfileSettings

__all__ = ["BUILTIN_PROFILES", "Profile", "ProfileBook"]


@attrs.frozen
class Profile:
    """A resolved profile, shared by every worker that uses it.

    :param name: what clients see as the worker's ``profile``: ``builtin:echo``
        for a builtin, the bare name for an operator's profile.
    :param engine: the turn engine its turns run through.
    :param settings: the engine's view of the profile.
    :param tools: the tools the profile may grant, by name.
    """

    name: str
    engine: TurnEngine
    settings: EngineProfile
    tools: Mapping[str, WorkerTool] = attrs.field(factory=dict)
    description: str = ""

    @property
    def replies(self) -> bool:
        """Whether a turn adds an ``assistant`` entry."""
        return self.engine.replies

    @property
    def entries_per_turn(self) -> int:
        """Transcript entries a turn needs room for: the input, and the reply if there is one."""
        return 2 if self.replies else 1


#: The builtin profiles by selector.
BUILTIN_PROFILES: Mapping[str, Profile] = {
    ProfileBase.DEFAULT.value: Profile(
        ProfileBase.DEFAULT.value,
        RECORD,
        EngineProfile(ProfileBase.DEFAULT.value, RECORD.name),
        description="accepts input; no reply",
    ),
    ProfileBase.ECHO.value: Profile(
        ProfileBase.ECHO.value,
        ECHO,
        EngineProfile(ProfileBase.ECHO.value, ECHO.name),
        description="replies with the input",
    ),
}


class ProfileBook:
    """The builtin profiles plus the operator's, and the default; resolves selectors in O(1).

    :param engines: the turn engines profiles may name (the builtin ``record``
        and ``echo`` when omitted).
    :param tools: the tools profiles may list.
    :raises InvalidRequest: a profile names an engine or tool that is not
        registered, or its engine's ``check`` refused a setting; ``details``
        paths are relative to the runtime's settings (``profiles.NAME.engine``).
    """

    def __init__(
        self,
        profiles: Mapping[str, ProfileSettings],
        default_selector: str,
        *,
        engines: Mapping[str, TurnEngine] | None = None,
        tools: Mapping[str, WorkerTool] | None = None,
    ) -> None:
        engines = BUILTIN_ENGINES if engines is None else engines
        tools = tools or {}
        problems: list[dict[str, str]] = []
        configured = {}
        for name, settings in profiles.items():
            profile = _resolve(name, settings, engines, tools, problems)
            if profile is not None:
                configured[name] = profile
        if problems:
            raise InvalidRequest("a profile cannot be used as configured", details=problems)
        self._by_selector: dict[str, Profile] = {**BUILTIN_PROFILES, **configured}
        default = self._by_selector.get(default_selector)
        if default is None:
            raise ValueError(f"default profile {default_selector!r} is not defined")
        self.default = default
        self._by_selector[DEFAULT_SELECTOR] = default

    def by_name(self, name: str) -> Profile:
        """The profile a stored worker names (:attr:`Profile.name`), or the default if it is no longer configured.

        A worker keeps working after an operator removes its profile; it
        takes the default's behaviour (decision 0086).
        """
        profile = self._by_selector.get(name)
        return self.default if profile is None or name == DEFAULT_SELECTOR else profile

    def resolve(self, selector: str | None) -> Profile:
        """The profile ``selector`` names; omitted (``None``) or ``"default"``: the default.

        :raises UnknownProfile: no profile of that name, naming the closest names.
        """
        if selector is None:
            return self.default
        profile = self._by_selector.get(selector)
        if profile is None:
            raise UnknownProfile.among(selector, self.names())
        return profile

    def names(self) -> tuple[str, ...]:
        """Every selectable profile name (builtin selectors first)."""
        return tuple(name for name in self._by_selector if name != DEFAULT_SELECTOR)

    def listing(self) -> tuple[ProfileInfo, ...]:
        """What a client may see of every selectable profile (decision 0141): never its engine settings."""
        return tuple(
            ProfileInfo(
                name=name,
                engine=profile.engine.name,
                description=profile.description or None,
                tools=tuple(profile.tools),
                default=profile is self.default,
            )
            for name, profile in self._by_selector.items()
            if name != DEFAULT_SELECTOR
        )


def _resolve(
    name: str,
    settings: ProfileSettings,
    engines: Mapping[str, TurnEngine],
    tools: Mapping[str, WorkerTool],
    problems: list[dict[str, str]],
) -> Profile | None:
    path = f"profiles.{name}"
    engine_name = settings.engine_name
    engine = engines.get(engine_name)
    if engine is None:
        known = ", ".join(sorted(engines)) or "none"
        problems.append(
            {
                "path": f"{path}.engine",
                "message": f"no loaded plugin registers an engine {engine_name!r} (loaded: {known})",
            }
        )
        return None
    granted = {}
    for index, tool_name in enumerate(settings.tools):
        tool = tools.get(tool_name)
        if tool is None:
            problems.append(
                {"path": f"{path}.tools[{index}]", "message": f"no loaded plugin registers a tool {tool_name[:64]!r}"}
            )
        else:
            granted[tool_name] = tool
    engine_profile = EngineProfile(
        name=name,
        engine=engine_name,
        model=settings.model,
        api_base=settings.api_base,
        key_env=settings.key_env,
        system_prompt=settings.system_prompt,
        options=dict(settings.options),
        tools=tuple(settings.tools),
        max_turn_seconds=settings.max_turn_seconds,
        max_tool_rounds=settings.max_tool_rounds,
        max_history_bytes=settings.max_history_bytes,
        reply_delay_seconds=settings.reply_delay_seconds,
    )
    problems_before = len(problems)
    keys = attrs.fields_dict(ProfileSettings)
    for problem in check_profile(engine, engine_profile):
        # At the key it names when that is a key of the profile; else at the profile.
        if problem.key is not None and problem.key in keys:
            problems.append({"path": f"{path}.{problem.key}", "message": problem.message})
        else:
            about = f"{problem.key}: " if problem.key else ""
            problems.append({"path": path, "message": about + problem.message})
    if len(problems) > problems_before:
        return None
    return Profile(name, engine, engine_profile, granted, settings.description)
