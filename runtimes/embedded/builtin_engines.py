"""The first two turn engines: ``record`` (keep the input, no reply) and ``echo`` (reply with it).

They are the behaviour of the builtin profiles ``builtin:default`` and
``builtin:echo``, written as engines like any other: the ``embedded`` plugin
registers them through ``register_turn_engines``.
"""

from __future__ import annotations

import asyncio

from registry_core.engines import EngineProfile, ProfileProblem, Turn, TurnEngine, TurnResult

__all__ = ["BUILTIN_ENGINES", "ECHO", "RECORD", "ends_at_once", "instant_result"]

# Settings that only make sense for an engine that calls a model.
_MODEL_SETTINGS = ("model", "api_base", "key_env", "system_prompt")


def check_no_model_settings(profile: EngineProfile) -> list[ProfileProblem]:
    """``record`` and ``echo`` call no model: a model setting on them is a mistake, not a no-op."""
    problems = [
        ProfileProblem(name, f"the {profile.engine!r} engine calls no model and takes no {name}")
        for name in _MODEL_SETTINGS
        if getattr(profile, name) is not None
    ]
    if profile.options:
        problems.append(ProfileProblem("options", f"the {profile.engine!r} engine takes no options"))
    if profile.tools:
        problems.append(ProfileProblem("tools", f"the {profile.engine!r} engine calls no tools"))
    return problems


# With no delay neither suspends: the runtime then runs the turn in one step of
# the loop after the input, without a task (ends_at_once, decision 0247). That
# step comes after the input's answer, so "busy" is still a real state that a
# cancel can observe (decision 0006).


async def record(turn: Turn) -> TurnResult:
    """Keep the input (the runtime already put it in the transcript); reply with nothing."""
    if turn.profile.reply_delay_seconds:
        await asyncio.sleep(turn.profile.reply_delay_seconds)
    return _NO_REPLY


async def echo(turn: Turn) -> TurnResult:
    """Reply with the input, after the profile's delay."""
    if turn.profile.reply_delay_seconds:
        await asyncio.sleep(turn.profile.reply_delay_seconds)
    return TurnResult(turn.input)


#: ``record``'s result: frozen and the same every turn, so made once.
_NO_REPLY = TurnResult(None)


#: Records the input; no reply.
RECORD = TurnEngine(
    "record",
    record,
    description="Keeps the input in the transcript; no reply",
    check=check_no_model_settings,
    replies=False,
    reads_history=False,
)
#: Replies with the input.
ECHO = TurnEngine(
    "echo", echo, description="Replies with the input", check=check_no_model_settings, reads_history=False
)
#: Both, by name.
BUILTIN_ENGINES = {RECORD.name: RECORD, ECHO.name: ECHO}


def ends_at_once(engine: TurnEngine, profile: EngineProfile) -> bool:
    """Whether ``engine``'s turns of ``profile`` end without suspending: ``record`` and ``echo`` with no delay."""
    return (engine is RECORD or engine is ECHO) and not profile.reply_delay_seconds


def instant_result(engine: TurnEngine, content: str) -> TurnResult:
    """What a turn of ``engine`` on input ``content`` returns, for a turn that ends at once
    (:func:`ends_at_once`: ``record`` or ``echo`` with no delay): ``record`` no reply, ``echo`` the input.

    The runtime ends such a turn with it, without running the engine's coroutine (decision 0257).
    """
    if engine is RECORD:
        return _NO_REPLY
    if engine is ECHO:
        return TurnResult(content)
    raise ValueError(f"the {engine.name!r} engine's turns do not end at once")
