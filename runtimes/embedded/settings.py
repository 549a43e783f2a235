"""What an operator configures for an embedded runtime: limits and named profiles.

The classes here are plain attrs classes whose numeric fields declare their
ranges with ``annotated-types`` (decision 0002), so the registry's converter
reports a bad value at its path (``runtimes[0].settings.max_workers``). The
runtime itself does not need the converter: ``EmbeddedSettings()`` is a valid
configuration and tests build settings directly.

Example (in the registry's config file)::

    [runtimes.settings]
    max_workers = 1000
    default_profile = "builtin:default"

    [runtimes.settings.store]
    backend = "sqlite"          # the default; "memory" keeps nothing across restarts
    durability = "acknowledged"

    [runtimes.settings.profiles.slow-echo]
    base = "builtin:echo"
    reply_delay_seconds = 2.0
    description = "Echoes after two seconds"
"""

from __future__ import annotations

import enum
import re
from typing import Annotated

import attrs
from annotated_types import Ge, Interval, MaxLen

from registry_core.page_bytes import DEFAULT_MAX_PAGE_BYTES

__all__ = [
    "BUILTIN_PREFIX",
    "DEFAULT_SELECTOR",
    "MAX_REPLY_DELAY_SECONDS",
    "Durability",
    "EmbeddedSettings",
    "ProfileBase",
    "ProfileSettings",
    "StoreBackend",
    "StoreSettings",
]

#: Selectors of builtin profiles start with this: ``builtin:default``, ``builtin:echo``.
BUILTIN_PREFIX = "builtin:"
#: The selector that means "the runtime's default profile" (as does omitting it).
DEFAULT_SELECTOR = "default"
#: The longest reply delay a profile may configure (an hour: longer is a mistake).
MAX_REPLY_DELAY_SECONDS = 3600.0

_PROFILE_NAME = re.compile(r"[A-Za-z0-9_\-]{1,64}")


class ProfileBase(enum.Enum):
    """The builtin behaviour a profile is built on."""

    #: Input goes into the transcript; the turn completes with no reply (v0 has no model provider).
    DEFAULT = "builtin:default"
    #: The turn replies with an ``assistant`` entry repeating the input.
    ECHO = "builtin:echo"


@attrs.frozen
class ProfileSettings:
    """One operator-defined profile: a builtin base and how it behaves.

    :param base: ``"builtin:default"`` or ``"builtin:echo"``.
    :param reply_delay_seconds: how long every turn takes before it completes
        (and, for an echo profile, before it replies): 0–3600 seconds.
        A delay makes ``busy`` and ``cancel`` observable, for demos and tests.
    :param description: one line for people reading the configuration.
    """

    base: ProfileBase = ProfileBase.DEFAULT
    reply_delay_seconds: Annotated[float, Interval(ge=0, le=MAX_REPLY_DELAY_SECONDS)] = 0.0
    description: Annotated[str, MaxLen(200)] = ""


class StoreBackend(enum.Enum):
    """Where an embedded runtime keeps its workers, transcripts and events."""

    #: A SQLite database file: everything survives restarts and crashes (decision 0085).
    SQLITE = "sqlite"
    #: The process's memory: everything ends with the process.
    MEMORY = "memory"


class Durability(enum.Enum):
    """When a SQLite store's answers go out relative to its commits."""

    #: An answer is sent only once what it acknowledges is committed (and synced).
    ACKNOWLEDGED = "acknowledged"
    #: Answers go out at once; commits follow within ``BATCH_INTERVAL_SECONDS``.
    BATCHED = "batched"


_STORE_PATH = re.compile(r"[^\x00]{1,4096}")


@attrs.frozen
class StoreSettings:
    """The ``[runtimes.settings.store]`` table: where the runtime keeps its state.

    :param backend: ``"sqlite"`` (the default) or ``"memory"``.
    :param path: the SQLite file; a relative path resolves against the
        server's ``data_dir``. ``None`` (the default) is
        ``state/<runtime id>.db``. Never shown to clients.
    :param durability: ``"acknowledged"`` (the default) or ``"batched"``.
    """

    backend: StoreBackend = StoreBackend.SQLITE
    path: str | None = None
    durability: Durability = Durability.ACKNOWLEDGED

    def __attrs_post_init__(self) -> None:
        if self.path is not None and (not _STORE_PATH.fullmatch(self.path) or not self.path.strip()):
            raise ValueError("store.path: must be a non-empty file path without NUL characters")


_PageMax = Annotated[int, Interval(ge=1, le=10_000)]


@attrs.frozen
class EmbeddedSettings:
    """The ``settings`` table of an ``embedded`` runtime (docs/configuration.md).

    :param max_workers: workers held, stopped ones included (they stay readable).
    :param max_transcript_entries: entries per worker; an input that would not
        leave room for itself and its reply is refused, never truncated.
    :param max_input_chars: the longest input content accepted.
    :param worker_page_max: the largest worker-list page.
    :param transcript_page_max: the largest transcript page.
    :param event_page_max: the largest event page.
    :param event_retention: events kept in the runtime's log.
    :param max_page_bytes: the most JSON bytes one page of workers, transcript
        entries or events holds (besides its count limit; one item larger than
        this is still served alone). A page cut short carries its cursor.
    :param max_store_bytes: the most bytes of stored content (transcript
        entries and worker texts, measured as JSON) the runtime holds; input
        or a worker that would go over it is ``capacity_exceeded``. The event
        log also drops its oldest events beyond this many bytes.
    :param default_profile: the profile for a selector that is omitted,
        ``"default"`` or unknown: a builtin selector or a name in ``profiles``.
    :param profiles: operator-defined profiles by name (letters, digits,
        ``-`` and ``_``; not ``default``; selected by bare name).
    :param store: where workers, transcripts and events live (:class:`StoreSettings`).
    """

    max_workers: Annotated[int, Ge(1)] = 1000
    max_transcript_entries: Annotated[int, Ge(2)] = 10_000
    max_input_chars: Annotated[int, Ge(1)] = 65_536
    worker_page_max: _PageMax = 200
    transcript_page_max: _PageMax = 500
    event_page_max: _PageMax = 1000
    event_retention: Annotated[int, Ge(1)] = 10_000
    max_page_bytes: Annotated[int, Interval(ge=1024, le=1 << 30)] = DEFAULT_MAX_PAGE_BYTES
    max_store_bytes: Annotated[int, Ge(65_536)] = 128 * 1024 * 1024
    default_profile: str = ProfileBase.DEFAULT.value
    profiles: dict[str, ProfileSettings] = attrs.Factory(dict)
    store: StoreSettings = StoreSettings()

    def __attrs_post_init__(self) -> None:
        # Cross-field rules: reported at the settings table's path, so each
        # message names its own field.
        for name in self.profiles:
            if name == DEFAULT_SELECTOR or not _PROFILE_NAME.fullmatch(name):
                raise ValueError(
                    f"profiles: {name[:64]!r} is not a usable profile name "
                    "(1-64 letters, digits, '-' or '_'; not 'default')"
                )
        builtin = {base.value for base in ProfileBase}
        if self.default_profile not in builtin and self.default_profile not in self.profiles:
            raise ValueError(
                f"default_profile: {self.default_profile[:64]!r} is neither a builtin profile "
                "('builtin:default', 'builtin:echo') nor a name in profiles"
            )
