"""Profiles: what a worker's turn does, and how a create request's selector is resolved.

Selectors (the contract's rules):

- omitted or ``"default"`` — the runtime's configured default profile;
- ``"builtin:NAME"`` — a builtin profile (``builtin:default``, ``builtin:echo``);
- ``"NAME"`` — a profile the operator configured;
- anything else — the default profile, and the caller is told it fell back.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from runtime_registry.runtimes.embedded.settings import DEFAULT_SELECTOR, ProfileBase, ProfileSettings

__all__ = ["BUILTIN_PROFILES", "Profile", "ProfileBook", "Resolution"]


@attrs.frozen
class Profile:
    """A resolved profile, shared by every worker that uses it.

    :param name: what clients see as the worker's ``profile``: ``builtin:echo``
        for a builtin, the bare name for an operator's profile.
    :param replies: whether a turn adds an ``assistant`` entry echoing the input.
    :param reply_delay_seconds: how long a turn takes.
    """

    name: str
    replies: bool
    reply_delay_seconds: float = 0.0
    description: str = ""

    @property
    def entries_per_turn(self) -> int:
        """Transcript entries one turn adds: the input, and the reply if there is one."""
        return 2 if self.replies else 1


#: The builtin profiles by selector.
BUILTIN_PROFILES: Mapping[str, Profile] = {
    ProfileBase.DEFAULT.value: Profile(ProfileBase.DEFAULT.value, replies=False, description="accepts input; no reply"),
    ProfileBase.ECHO.value: Profile(ProfileBase.ECHO.value, replies=True, description="replies with the input"),
}


@attrs.frozen
class Resolution:
    """The outcome of resolving a selector: the profile, and whether it is a fallback."""

    profile: Profile
    fell_back: bool


class ProfileBook:
    """The builtin profiles plus the operator's, and the default; resolves selectors in O(1)."""

    def __init__(self, profiles: Mapping[str, ProfileSettings], default_selector: str) -> None:
        configured = {
            name: Profile(
                name,
                replies=settings.base is ProfileBase.ECHO,
                reply_delay_seconds=settings.reply_delay_seconds,
                description=settings.description,
            )
            for name, settings in profiles.items()
        }
        self._by_selector: dict[str, Profile] = {**BUILTIN_PROFILES, **configured}
        default = self._by_selector.get(default_selector)
        if default is None:
            raise ValueError(f"default profile {default_selector!r} is not defined")
        self.default = default
        self._by_selector[DEFAULT_SELECTOR] = default
        self._default_resolution = Resolution(default, fell_back=False)
        self._fallback = Resolution(default, fell_back=True)

    def by_name(self, name: str) -> Profile:
        """The profile a stored worker names (:attr:`Profile.name`), or the default if it is no longer configured.

        A worker keeps working after an operator removes its profile; it
        takes the default's behaviour (decision 0086).
        """
        profile = self._by_selector.get(name)
        return self.default if profile is None or name == DEFAULT_SELECTOR else profile

    def resolve(self, selector: str | None) -> Resolution:
        """The profile ``selector`` names, or the default with ``fell_back=True``."""
        if selector is None:
            return self._default_resolution
        profile = self._by_selector.get(selector)
        if profile is None:
            return self._fallback
        return Resolution(profile, fell_back=False)

    def names(self) -> tuple[str, ...]:
        """Every selectable profile name (builtin selectors first)."""
        return tuple(name for name in self._by_selector if name != DEFAULT_SELECTOR)
