"""Profiles whose ``key_env`` names a variable the server's environment does not set (issue 17).

A key is read from the environment at every turn, so an unset variable is not
a configuration error (it may be set for the next start, or the server
started without it by mistake). It is a warning the operator should see
before the first turn fails: ``check-config`` prints it (with the variable's
name), the start logs it, and the runtime's status is ``degraded`` with a
``profile_key_unset`` diagnostic per profile. Clients see the profile's name
only: which variable holds a key is the operator's business (the profiles
route and the leak scan treat it as a secret), and a value is never shown
anywhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from registry_core.models import Diagnostic
from runtime_registry.runtimes.embedded.profiles import ProfileBook

__all__ = ["PROFILE_KEY_UNSET", "unset_key_diagnostics", "unset_key_lines", "unset_keys"]

#: The diagnostic's code.
PROFILE_KEY_UNSET = "profile_key_unset"


def unset_keys(profiles: ProfileBook) -> Iterator[tuple[str, str]]:
    """``(profile name, variable)`` for each profile whose ``key_env`` variable is unset or empty now."""
    for name in profiles.names():
        key_env = profiles.by_name(name).key_env
        if key_env is not None and not os.environ.get(key_env):
            yield name, key_env


def unset_key_diagnostics(profiles: ProfileBook) -> tuple[Diagnostic, ...]:
    """One client-safe warning per such profile (the variable is not named)."""
    return tuple(
        Diagnostic.warning(
            PROFILE_KEY_UNSET,
            f"profile {name!r}: the environment variable its key_env names is not set; "
            "its turns fail with provider_auth until it is",
        )
        for name, _variable in unset_keys(profiles)
    )


def unset_key_lines(profiles: ProfileBook) -> tuple[str, ...]:
    """One operator line per such profile, naming the setting and the variable (for check-config and the log)."""
    return tuple(
        f"profiles.{name}.key_env: {variable} is not set in this environment; "
        "the profile's turns fail with provider_auth until it is"
        for name, variable in unset_keys(profiles)
    )
