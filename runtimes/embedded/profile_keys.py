"""Profiles whose ``key_env`` names a variable the server's environment does not set (issue 17).

A key is read from the environment at every turn, so an unset variable is not
a configuration error (it may be set for the next start, or the server
started without it by mistake). It is a warning the operator should see
before the first turn fails: ``check-config`` prints it, the runtime's status
is ``degraded`` with a ``profile_key_unset`` diagnostic per profile, and the
start logs it. The diagnostic names the variable, never a value.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

from registry_core.models import Diagnostic
from runtime_registry.runtimes.embedded.profiles import ProfileBook

__all__ = ["PROFILE_KEY_UNSET", "unset_keys", "unset_keys_in_settings"]

#: The diagnostic's code.
PROFILE_KEY_UNSET = "profile_key_unset"


def unset_keys(profiles: ProfileBook) -> tuple[Diagnostic, ...]:
    """One warning per profile whose ``key_env`` variable is unset or empty now."""
    problems = []
    for name in profiles.names():
        key_env = profiles.by_name(name).settings.key_env
        if key_env is not None and not os.environ.get(key_env):
            problems.append(
                Diagnostic.warning(
                    PROFILE_KEY_UNSET,
                    f"profile {name!r}: key_env names {key_env}, which is not set in the server's environment; "
                    "the profile's turns fail with provider_auth until it is",
                )
            )
    return tuple(problems)


def unset_keys_in_settings(settings: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """``(profile name, variable)`` for each unset ``key_env`` in a runtime's raw ``settings`` table.

    For ``check-config``, which checks a file without starting its runtimes;
    the table has already been converted once (so its shapes are valid).
    """
    profiles = settings.get("profiles")
    if not isinstance(profiles, Mapping):
        return
    for name, profile in profiles.items():
        key_env = profile.get("key_env") if isinstance(profile, Mapping) else None
        if isinstance(key_env, str) and not os.environ.get(key_env):
            yield name, key_env
