"""Profiles: what a worker's turn does, and how a create request's selector is resolved.

One concept, three forms (issue 17, decision 0211):

- the **selector** a client sends (``"assistant"``, ``"builtin:echo"``,
  ``"default"`` or nothing);
- :class:`~runtime_registry.runtimes.embedded.settings.ProfileSettings`, the
  table an operator writes (``[runtimes.settings.profiles.NAME]``), only ever
  read here;
- :class:`~registry_core.engines.EngineProfile`, the one resolved profile:
  what a worker holds (``WorkerRecord.profile``), what a turn's engine reads
  (``Turn.profile``), what the profiles route lists.

The :class:`ProfileBook` resolves selectors to ``EngineProfile`` objects and
keeps, by profile name, what is not settings: the engine object, the tool
objects the profile may grant, whether its turns reply. Engines and tools are
resolved once, when the book is built: a name no plugin registered is a
configuration error, never a failed turn later.

Selectors (the contract's rules):

- omitted or ``"default"`` — the runtime's configured default profile;
- ``"builtin:NAME"`` — a builtin profile (``builtin:default``, ``builtin:echo``);
- ``"NAME"`` — a profile the operator configured;
- anything else — ``422 unknown_profile`` naming the closest names (before
  0.4 it fell back to the default with a ``profile_fallback`` diagnostic;
  the builtin default never replies, so a mistyped name looked like a dead
  worker; decision 0210).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import attrs

from registry_core.engines import EngineProfile, TurnEngine, check_profile, read_engine_settings
from registry_core.errors import InvalidRequest, UnknownProfile
from registry_core.models import ProfileInfo
from registry_core.tools import WorkerTool
from runtime_registry.runtimes.embedded.builtin_engines import BUILTIN_ENGINES, ECHO, RECORD
from runtime_registry.runtimes.embedded.settings import DEFAULT_SELECTOR, ProfileBase, ProfileSettings

__all__ = ["BUILTIN_PROFILES", "ProfileBook", "engine_profile"]

#: The builtin profiles by selector.
BUILTIN_PROFILES: Mapping[str, EngineProfile] = {
    ProfileBase.DEFAULT.value: EngineProfile(
        ProfileBase.DEFAULT.value, RECORD.name, description="accepts input; no reply"
    ),
    ProfileBase.ECHO.value: EngineProfile(ProfileBase.ECHO.value, ECHO.name, description="replies with the input"),
}


def engine_profile(name: str, settings: ProfileSettings) -> EngineProfile:
    """The resolved profile of the operator's table ``settings`` under ``name`` (``base`` decides the engine when ``engine`` is not given)."""
    return EngineProfile(
        name=name,
        engine=settings.engine_name,
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
        description=settings.description,
    )


@attrs.frozen
class _Bound:
    """What the book keeps beside a profile's settings: its engine and the tools it may grant."""

    engine: TurnEngine
    tools: Mapping[str, WorkerTool]


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
        self._bound: dict[str, _Bound] = {
            name: _Bound(BUILTIN_ENGINES[p.engine], {}) for name, p in BUILTIN_PROFILES.items()
        }
        self._by_selector: dict[str, EngineProfile] = dict(BUILTIN_PROFILES)
        for name, settings in profiles.items():
            resolved = _resolve(name, settings, engines, tools, problems)
            if resolved is not None:
                self._by_selector[name], self._bound[name] = resolved
        if problems:
            raise InvalidRequest("a profile cannot be used as configured", details=problems)
        default = self._by_selector.get(default_selector)
        if default is None:
            raise ValueError(f"default profile {default_selector!r} is not defined")
        #: The profile an omitted selector (or ``"default"``) resolves to.
        self.default = default
        self._by_selector[DEFAULT_SELECTOR] = default

    # -- resolving ---------------------------------------------------------------

    def resolve(self, selector: str | None) -> EngineProfile:
        """The profile ``selector`` names; omitted (``None``) or ``"default"``: the default.

        :raises UnknownProfile: no profile of that name, naming the closest names.
        """
        if selector is None:
            return self.default
        profile = self._by_selector.get(selector)
        if profile is None:
            raise UnknownProfile.among(selector, self.names())
        return profile

    def by_name(self, name: str) -> EngineProfile:
        """The profile a stored worker names (its ``profile.name``), or the default if it is no longer configured.

        A worker keeps working after an operator removes its profile; it
        takes the default's behaviour (decision 0086).
        """
        profile = self._by_selector.get(name)
        return self.default if profile is None or name == DEFAULT_SELECTOR else profile

    def names(self) -> tuple[str, ...]:
        """Every selectable profile name (builtin selectors first)."""
        return tuple(name for name in self._by_selector if name != DEFAULT_SELECTOR)

    # -- what a profile's turns run on --------------------------------------------

    def engine(self, profile: EngineProfile) -> TurnEngine:
        """The engine object ``profile``'s turns run through."""
        return self._bound[profile.name].engine

    def tools(self, profile: EngineProfile) -> Mapping[str, WorkerTool]:
        """The tool objects ``profile`` may grant, by name."""
        return self._bound[profile.name].tools

    def replies(self, profile: EngineProfile) -> bool:
        """Whether ``profile``'s turns add an ``assistant`` entry (its engine's ``replies``)."""
        return self._bound[profile.name].engine.replies

    def entries_per_turn(self, profile: EngineProfile) -> int:
        """Transcript entries a turn of ``profile`` needs room for: the input, and the reply if there is one."""
        return 2 if self._bound[profile.name].engine.replies else 1

    def listing(self) -> tuple[ProfileInfo, ...]:
        """What a client may see of every selectable profile (decision 0141): never its engine settings."""
        return tuple(
            ProfileInfo(
                name=name,
                engine=profile.engine,
                description=profile.description or None,
                tools=tuple(self._bound[name].tools),
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
) -> tuple[EngineProfile, _Bound] | None:
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
    profile = engine_profile(name, settings)
    try:
        profile = attrs.evolve(profile, engine_settings=read_engine_settings(engine, profile.options))
    except InvalidRequest as exc:
        problems.extend({"path": f"{path}.options.{d['path']}", "message": d["message"]} for d in exc.details)
        return None
    problems_before = len(problems)
    keys = attrs.fields_dict(ProfileSettings)
    for problem in check_profile(engine, profile):
        # At the key it names when that is a key of the profile; else at the profile.
        if problem.key is not None and problem.key in keys:
            problems.append({"path": f"{path}.{problem.key}", "message": problem.message})
        else:
            about = f"{problem.key}: " if problem.key else ""
            problems.append({"path": path, "message": about + problem.message})
    if len(problems) > problems_before:
        return None
    return profile, _Bound(engine, granted)


# -- names that moved (decision 0161: they keep working until 1.0) ------------------


@attrs.frozen
class _Profile:
    """Deprecated: the resolved profile before 0.4 (engine and tools beside an :class:`EngineProfile`).

    Since 0.4 the resolved profile is :class:`~registry_core.engines.EngineProfile` itself and
    :class:`ProfileBook` keeps the engine and tools (``book.engine(profile)``, ``book.tools(profile)``).
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
        """Transcript entries a turn needs room for."""
        return 2 if self.replies else 1


@attrs.frozen
class _Resolution:
    """Deprecated: what ``ProfileBook.resolve`` returned before 0.4 (it now returns the profile or raises)."""

    profile: _Profile
    fell_back: bool


_MOVED = {
    "Profile": (_Profile, "use registry_core.EngineProfile and ProfileBook.engine()/tools()"),
    "Resolution": (_Resolution, "ProfileBook.resolve() returns the EngineProfile or raises UnknownProfile"),
}


def __getattr__(name: str) -> Any:
    moved = _MOVED.get(name)
    if moved is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"runtime_registry.runtimes.embedded.profiles.{name} is deprecated since 0.4 ({moved[1]}); it goes in 1.0",
        DeprecationWarning,
        stacklevel=2,
    )
    return moved[0]
