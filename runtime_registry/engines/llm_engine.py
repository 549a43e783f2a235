"""The ``llm`` turn engine, as registered: cheap to import.

Importing this module imports neither ``llm`` nor ``openai`` (about a second
here): :mod:`.llm_turns` is imported the first time a profile that uses the
engine is checked (at startup) or a turn runs. A server whose configuration
has no ``llm`` profile never loads them (decision 0092; measured in
docs/performance.md).

``serve`` checks profiles in two steps (decision 0172): while the server is
built, :func:`check` only checks what needs no llm (a model is named, no reply
delay) and queues the profile (:func:`deferring_checks`); once the server
listens, :func:`run_deferred_checks` imports llm in a background thread and
checks the queued profiles as ``check-config`` does. A profile that fails it
is reported by its runtime as an ``engine_profile_invalid`` diagnostic
(:func:`profile_problem`), in the log, and by every turn of it
(``provider_error``), never silently. ``check-config`` and every other
caller still check everything at once.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Annotated

import attrs
from annotated_types import Ge, Interval, MaxLen

from registry_core.engines import EngineProfile, ProfileProblem, Turn, TurnEngine, TurnFailed, TurnResult

__all__ = ["LLM", "LlmOptions", "deferring_checks", "profile_problem", "run_deferred_checks"]


@attrs.frozen
class LlmOptions:
    """The ``options`` of an ``llm`` profile that most llm models take, checked when the runtime starts.

    Any other key is passed to the model too, and checked against the
    model's own options (a model plugin's, ``top_k`` or ``thinking``): the
    engine is ``settings_open``. Every option is also checked by the model
    itself at startup: a model that does not take ``seed`` refuses it there.

    :param temperature: sampling temperature, 0–2 (lower is more deterministic).
    :param max_tokens: the most tokens the model may write in one reply, 1 and up.
    :param top_p: nucleus sampling: the probability mass to sample from, 0–1.
    :param frequency_penalty: -2–2; positive values discourage repeating the same tokens.
    :param presence_penalty: -2–2; positive values discourage repeating topics.
    :param seed: a seed, for models that sample reproducibly with one.
    :param stop: a text at which the model stops writing (up to 200 characters).
    """

    temperature: Annotated[float, Interval(ge=0, le=2)] | None = None
    max_tokens: Annotated[int, Ge(1)] | None = None
    top_p: Annotated[float, Interval(ge=0, le=1)] | None = None
    frequency_penalty: Annotated[float, Interval(ge=-2, le=2)] | None = None
    presence_penalty: Annotated[float, Interval(ge=-2, le=2)] | None = None
    seed: int | None = None
    stop: Annotated[str, MaxLen(200)] | None = None


# Profiles whose llm-dependent check waits for run_deferred_checks (None: check at once).
_deferred: list[EngineProfile] | None = None
# Keyed by id(): EngineProfile holds a dict (options), so it is not hashable;
# the profile objects live as long as their runtime, in _checked too.
_problems: dict[int, str] = {}
_checked: list[EngineProfile] = []
_lock = threading.Lock()


def _turns() -> ModuleType:  # the heavy half, on first use
    return importlib.import_module("runtime_registry.engines.llm_turns")


async def run(turn: Turn) -> TurnResult:
    """Run one turn through the profile's model (see :mod:`.llm_turns`)."""
    problem = profile_problem(turn.profile, verify=True)
    if problem is not None:
        raise TurnFailed("provider_error", f"the profile cannot be used: {problem}")
    result: TurnResult = await _turns().run_turn(turn)
    return result


def _check_shape(profile: EngineProfile) -> list[ProfileProblem]:
    # What check_profile refuses without llm, with its messages.
    if not profile.model:
        return [ProfileProblem("model", "the llm engine needs a model id")]
    if profile.reply_delay_seconds:
        return [ProfileProblem("reply_delay_seconds", "the llm engine takes no reply delay")]
    return []


def check(profile: EngineProfile) -> list[ProfileProblem]:
    """Check a profile at startup: a model is named and known, options fit it (see :func:`deferring_checks`)."""
    if _deferred is not None:
        problems = _check_shape(profile)
        if not problems:
            with _lock:
                _deferred.append(profile)
        return problems
    found: list[ProfileProblem] = _turns().check_profile(profile)
    return found


@contextlib.contextmanager
def deferring_checks() -> Iterator[None]:
    """Within this block, :func:`check` checks only what needs no llm and queues the profile.

    ``serve`` builds the server in such a block, so that a server with an
    ``llm`` profile listens without importing llm first; it must then call
    :func:`run_deferred_checks`.
    """
    global _deferred
    with _lock:
        _deferred = []
    try:
        yield
    finally:
        with _lock:
            queued, _deferred = _deferred, None
            _checked.extend(queued or ())
            for profile in queued or ():
                _problems[id(profile)] = _PENDING


#: A queued profile's mark until its full check ran.
_PENDING = "pending"


def run_deferred_checks() -> list[tuple[str, str]]:
    """Import llm and check every queued profile; return ``(profile name, problem)`` of each that fails.

    Safe to call from a thread; a profile checked already is not checked again.
    """
    with _lock:
        queued = [profile for profile in _checked if _problems.get(id(profile)) is _PENDING]
    failed = []
    for profile in queued:
        problem = _full_check(profile)
        if problem is not None:
            failed.append((profile.name, problem))
    return failed


def _full_check(profile: EngineProfile) -> str | None:
    found: list[ProfileProblem] = _turns().check_profile(profile)
    problem = "; ".join(f"{p.key}: {p.message}" if p.key else p.message for p in found) or None
    with _lock:
        if problem is None:
            _problems.pop(id(profile), None)
        else:
            _problems[id(profile)] = problem
    return problem


def profile_problem(profile: EngineProfile, *, verify: bool = False) -> str | None:
    """Why a profile checked by :func:`run_deferred_checks` cannot be used, or ``None``.

    ``None`` too while its check has not run yet, unless ``verify``: then it
    runs now (a turn that comes before the background check).
    """
    problem = _problems.get(id(profile))
    if problem is _PENDING:
        return _full_check(profile) if verify else None
    return problem


#: The ``llm`` engine: a model through Simon Willison's llm library.
LLM = TurnEngine(
    "llm",
    run,
    description="A model through the llm library (OpenAI, any OpenAI-compatible api_base, llm's model plugins)",
    check=check,
    settings=LlmOptions,
    settings_open=True,
)
