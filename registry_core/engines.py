"""Turn engines: what a worker's turn does, as a plugin.

A turn engine is an async function ``run(turn) -> TurnResult``. The runtime
that hosts it (the embedded runtime) owns everything that is the same for every
engine: the busy rule, cancel/stop/delete, the transcript, events, limits. The
engine gets one :class:`Turn` and decides what the turn does: record the input,
echo it, ask a model through ``llm``, run a third party's agent::

    from registry_core import TurnEngine, TurnResult, hookimpl

    async def shout(turn):
        for word in turn.input.split():
            turn.emit(word.upper() + " ")        # streamed as worker.output_delta
        return TurnResult(turn.input.upper())    # one assistant entry, worker.output

    @hookimpl
    def register_turn_engines(register):
        register(TurnEngine("shout", shout, description="Shouts the input back"))

Rules an engine keeps:

- **The transcript is the conversation.** ``turn.history`` holds the entries
  before this turn's input (the newest within the profile's
  ``max_history_bytes``); rebuild whatever the engine needs from it on every
  turn. Never keep a second copy in a library object: a restart would lose it.
- **Cancellable at any await.** Cancel, stop, delete and shutdown cancel the
  engine's task; whatever it awaits then raises ``CancelledError``. Let it
  propagate (close what you opened in ``finally``/``async with``). A cancelled
  turn adds no assistant entry.
- **Emit without waiting.** :meth:`Turn.emit` never suspends: the runtime
  coalesces deltas itself. An engine that streams should make its only awaits
  the reads of its upstream stream, so a cancel lands on the read and closes
  the connection.
- **Fail with a code.** Raise :class:`TurnFailed` with a code of
  :data:`TURN_FAILURE_CODES` and a message that names no endpoint, key or
  upstream body; a failure of the engine's own (bad input, a request its
  agent refused) is :class:`EngineFailed` with a reason of the engine's
  (``worker.turn_failed`` then says ``code: "engine_error"`` and
  ``engine_code: "<engine>.<reason>"``). Any other exception (``TimeoutError`` and a
  ``CancelledError`` the engine raises itself included) is a bug: logged,
  and reported to clients as ``engine_error`` without its text.
- **Settings have a class.** An engine that takes settings declares them
  as an attrs class (``TurnEngine(settings=ShoutSettings)``): operators
  write them in the profile's ``options`` table; the runtime checks them
  when it starts (types, ranges, unknown keys with "did you mean") and the
  engine reads the object as ``turn.profile.engine_settings``;
  ``runtime-registry plugins --json`` lists them.
- **The limit is the limit.** At ``max_turn_seconds`` the turn ends
  (``turn_timeout``) whatever the engine does; an engine that ignores the
  cancel keeps running, but nothing it emits, records or returns afterwards
  is written anywhere.
"""

from __future__ import annotations

import difflib
import re
import warnings
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from registry_core.errors import InvalidRequest
from registry_core.models import TranscriptEntry
from registry_core.tools import ToolCall, ToolOutcome, WorkerTool

__all__ = [
    "ENGINE_CODE_PATTERN",
    "ENGINE_FAILURE_MESSAGE_MAX",
    "ENGINE_FAILURE_REASON_PATTERN",
    "ENGINE_NAME_PATTERN",
    "STOP_REASONS",
    "TURN_FAILURE_CODES",
    "EngineFailed",
    "EngineProfile",
    "EngineRun",
    "ProfileProblem",
    "TokenUsage",
    "Turn",
    "TurnEngine",
    "TurnFailed",
    "TurnResult",
    "check_profile",
    "read_engine_settings",
]

#: Engine names: lowercase letters, digits and ``-``, starting with a letter, at most 64.
ENGINE_NAME_PATTERN = re.compile(r"[a-z][a-z0-9\-]{0,63}")

#: The codes a ``worker.turn_failed`` event may carry, and what each means.
TURN_FAILURE_CODES: Mapping[str, str] = {
    "provider_error": "the model provider failed or answered with an error",
    "provider_auth": "the model provider refused the credentials (or none were configured)",
    "provider_rate_limited": "the model provider asked us to slow down",
    "turn_timeout": "the turn took longer than the profile's max_turn_seconds",
    "tool_round_limit": "the model asked for tools more rounds than the profile's max_tool_rounds",
    "transcript_full": "the worker's transcript had no room for the turn's entries",
    "engine_error": "the engine failed unexpectedly (details are in the server log only), or refused the turn "
    "for a reason of its own (then the event's engine_code says which)",
}

#: An :class:`EngineFailed` reason: lowercase letters, digits and ``_``, starting with a letter, at most 64.
ENGINE_FAILURE_REASON_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")
#: A ``worker.turn_failed`` event's ``engine_code``: the engine's name, a dot, the reason (``acme-calc.bad_input``).
ENGINE_CODE_PATTERN = re.compile(r"[a-z][a-z0-9\-]{0,63}\.[a-z][a-z0-9_]{0,63}")
#: The longest :class:`EngineFailed` message, in characters (longer ones are cut, with ``...``).
ENGINE_FAILURE_MESSAGE_MAX = 500


#: The values a ``TurnResult.stop_reason`` (and so a ``worker.turn_completed`` event) may carry.
STOP_REASONS: frozenset[str] = frozenset({"end_turn", "max_tokens", "content_filter", "other"})


class TurnFailed(Exception):
    """Raise from an engine to end the turn with ``worker.turn_failed`` and a typed ``code``.

    :param code: one of :data:`TURN_FAILURE_CODES`.
    :param message: one line for people; it reaches clients, so it must name no
        endpoint, key, path or upstream body.
    """

    def __init__(self, code: str, message: str) -> None:
        if code not in TURN_FAILURE_CODES:
            raise ValueError(f"unknown turn failure code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message


class EngineFailed(TurnFailed):
    """Raise from an engine to end the turn with a failure of the engine's own: bad input, a request its agent refused.

    The turn ends with ``worker.turn_failed`` whose ``code`` is
    ``engine_error`` — so clients that switch on :data:`TURN_FAILURE_CODES`
    keep working — and whose ``engine_code`` is ``"<engine>.<reason>"``
    (``acme-calc.bad_input``), which clients that know the engine can switch
    on. The runtime writes the engine's name in front: an engine cannot
    speak for another. Unlike an unexpected exception, the message reaches
    clients::

        raise EngineFailed("empty_expression", "there is nothing to calculate")

    :param reason: 1-64 lowercase letters, digits and ``_``, starting with a
        letter (:data:`ENGINE_FAILURE_REASON_PATTERN`); anything else is a
        ``ValueError`` when it is raised (the turn then ends as a plain
        ``engine_error``, its text unseen).
    :param message: one line for people (whitespace runs become one space,
        cut at :data:`ENGINE_FAILURE_MESSAGE_MAX` characters); it reaches
        clients, so it must name no endpoint, key, path or upstream body.

    .. versionadded:: 0.4
    """

    def __init__(self, reason: str, message: str) -> None:
        if not isinstance(reason, str) or not ENGINE_FAILURE_REASON_PATTERN.fullmatch(reason):
            raise ValueError(
                "an engine's failure reason is 1-64 lowercase letters, digits or '_', starting with a letter"
            )
        line = " ".join(str(message).split()) or "the engine refused the turn"
        if len(line) > ENGINE_FAILURE_MESSAGE_MAX:
            line = line[: ENGINE_FAILURE_MESSAGE_MAX - 3] + "..."
        super().__init__("engine_error", line)
        #: The engine's own reason (``engine_code`` without the engine's name).
        self.reason = reason


def _check_token_count(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    # bool is an int in Python, and never a count of tokens.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError(f"TokenUsage.{attribute.name} must be an int >= 0, not {type(value).__name__}")


@attrs.frozen
class TokenUsage:
    """Tokens a turn used, as the model reported them (summed over tool rounds).

    Both counts are ``int`` and at least 0; anything else raises ``TypeError``.
    """

    input_tokens: int = attrs.field(validator=_check_token_count)
    output_tokens: int = attrs.field(validator=_check_token_count)


def _check_text(_instance: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"TurnResult.text must be a str or None, not {type(value).__name__}")


def _check_usage(_instance: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, TokenUsage):
        raise TypeError(f"TurnResult.usage must be a TokenUsage or None, not {type(value).__name__}")
    attrs.validate(value)


def _check_stop_reason(_instance: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or value not in STOP_REASONS:
        shown = repr(value)[:40] if isinstance(value, str) else type(value).__name__
        raise ValueError(f"TurnResult.stop_reason must be one of {sorted(STOP_REASONS)}, not {shown}")


@attrs.frozen
class TurnResult:
    """What an engine returns when its turn ends normally.

    Every field is checked when the result is built (``TypeError`` or
    ``ValueError``, which ends the turn as ``engine_error``) and again by the
    runtime before it writes anything of it.

    :ivar text: the reply, added as one ``assistant`` entry and one
        ``worker.output`` event; ``None`` for no reply (the ``record`` engine).
    :ivar usage: a :class:`TokenUsage`, or ``None`` where the model did not
        report it (a ``dict`` is refused).
    :ivar stop_reason: why the turn ended: one of :data:`STOP_REASONS`
        (``"end_turn"``, ``"max_tokens"``, ``"content_filter"``, ``"other"``).
    """

    text: str | None = attrs.field(validator=_check_text)
    usage: TokenUsage | None = attrs.field(default=None, validator=_check_usage)
    stop_reason: str = attrs.field(default="end_turn", validator=_check_stop_reason)


@attrs.frozen
class EngineProfile:
    """A profile, resolved: what a worker holds, what its turns' engine reads as ``turn.profile``.

    The one type of a profile once resolved (issue 17, decision 0211): the
    operator's table (``ProfileSettings``) becomes one of these when the
    runtime starts, builtins included; the runtime keeps the engine and tool
    objects beside it, by :attr:`name`.

    :ivar name: the profile's name (``builtin:echo`` or the operator's name).
    :ivar engine: the engine's name.
    :ivar model: the model id (engines that call a model; ``None`` otherwise).
    :ivar api_base: an OpenAI-compatible server's base URL, if any. Secret:
        never put it in a message, event or log line above debug.
    :ivar key_env: the environment variable that holds the key, if any.
    :ivar system_prompt: the system prompt, if any.
    :ivar options: options passed to the model (engine-specific).
    :ivar tools: the tool names this profile may grant.
    :ivar max_turn_seconds: the longest a turn may take (the runtime enforces it).
    :ivar max_tool_rounds: the most rounds of tool calls one turn may make.
    :ivar reply_delay_seconds: a fixed delay of ``record``/``echo`` turns.
    :ivar max_history_bytes: the most ``turn.history`` holds, in UTF-8 bytes
        of its entries' contents: the newest entries that fit, the oldest
        dropped first (the runtime enforces it).
    :ivar description: one line for people (the profiles route shows it).
        *Added in 0.4.*
    :ivar engine_settings: the engine's settings object, read from
        ``options`` into the engine's :attr:`TurnEngine.settings` class when
        the runtime started; ``None`` for an engine without one. *Added in 0.4.*
    """

    name: str
    engine: str
    model: str | None = None
    api_base: str | None = attrs.field(default=None, repr=False)
    key_env: str | None = None
    system_prompt: str | None = None
    options: Mapping[str, Any] = attrs.field(factory=dict)
    tools: tuple[str, ...] = ()
    max_turn_seconds: float = 300.0
    max_tool_rounds: int = 8
    reply_delay_seconds: float = 0.0
    max_history_bytes: int = 1024 * 1024
    description: str = ""
    engine_settings: Any = None


@attrs.frozen
class ProfileProblem:
    """A setting of a profile that an engine cannot use, as its ``check`` returns it.

    :ivar key: the profile key it is about (``model``, ``options``, ...), as
        operators write it; ``None`` for the profile as a whole.
    :ivar message: one line for the operator; never a secret (an ``api_base``
        or a key).

    .. versionadded:: 0.4
    """

    key: str | None
    message: str


def read_engine_settings(engine: TurnEngine, options: Mapping[str, Any]) -> Any:
    """``options`` read into ``engine.settings`` (``None`` for an engine without a settings class).

    Types and ranges are the settings class's (``Annotated[float, Interval(ge=0, le=2)]``), read
    as strictly as every configuration key; an unknown key is refused, with the closest key the
    class declares ("unknown field; did you mean 'volume'?"), unless the engine takes other
    options (``settings_open``): those are left in ``options`` for its ``check``.

    :raises InvalidRequest: each problem in ``details``, its ``path`` the key within ``options``.

    .. versionadded:: 0.4
    """
    if engine.settings is None:
        return None
    from registry_core.converter import structure  # the converter imports models; engines stays light

    keys = [field.alias or field.name for field in attrs.fields(engine.settings)]
    data = {key: value for key, value in options.items() if key in keys} if engine.settings_open else dict(options)
    try:
        return structure(data, engine.settings)
    except InvalidRequest as exc:
        details = [dict(detail) for detail in exc.details]
        for detail in details:
            if detail["message"] == "unknown field":
                close = difflib.get_close_matches(detail["path"].strip("'\""), keys, n=1)
                if close:
                    detail["message"] += f"; did you mean {close[0]!r}?"
        raise InvalidRequest(f"engine {engine.name!r}: options it cannot use", details=details) from None


def check_profile(engine: TurnEngine, profile: EngineProfile) -> tuple[ProfileProblem, ...]:
    """What ``engine.check`` finds wrong with ``profile`` (nothing for an engine without a check).

    An engine written before 0.4 raises ``ValueError("key: message")``; that
    still works until 1.0, with a ``DeprecationWarning``, and the message is
    read back into a problem at that key (a message without one is about the
    whole profile).

    .. versionadded:: 0.4
    """
    if engine.check is None:
        return ()
    try:
        found = engine.check(profile)
    except ValueError as exc:
        warnings.warn(
            f"engine {engine.name!r}: check() raising ValueError is deprecated; return ProfileProblem objects "
            "(goes in 1.0)",
            DeprecationWarning,
            stacklevel=2,
        )
        message = str(exc) or "the engine cannot use this profile"
        key, colon, rest = message.partition(": ")
        if colon and key.isidentifier():
            return (ProfileProblem(key, rest),)
        return (ProfileProblem(None, message),)
    return tuple(found or ())


class Turn:
    """One turn, as an engine sees it. The hosting runtime builds it; engines only read and call it.

    :ivar number: the worker's turn number (1, 2, ...).
    :ivar worker_id: the worker's id (for logs; never needed to address anything).
    :ivar history: the transcript before this turn's input, oldest first
        (roles ``user``, ``system``, ``assistant``, ``tool_call``,
        ``tool_result``): its newest entries within the profile's
        ``max_history_bytes``, the oldest dropped first, never starting with
        a ``tool_result`` whose call was dropped.
    :ivar input: this turn's input text.
    :ivar input_role: ``user`` or ``system``.
    :ivar profile: the profile's settings.
    :ivar tools: the tools this worker was granted (a subset of the profile's).
    """

    number: int
    worker_id: str
    history: Sequence[TranscriptEntry]
    input: str
    input_role: str
    profile: EngineProfile
    tools: Sequence[WorkerTool]

    def emit(self, text: str) -> None:
        """Stream a piece of the reply. Never suspends; empty text is ignored."""
        raise NotImplementedError

    async def run_tools(self, calls: Sequence[ToolCall]) -> list[ToolOutcome]:
        """Run one round of tool calls and return their outcomes, in order.

        Each call and its outcome are added to the transcript (roles
        ``tool_call`` and ``tool_result``) and announced as
        ``worker.tool_call_started`` / ``worker.tool_call_finished``. A tool
        that is not granted, raises or times out gives an error outcome
        (``is_error``); it never ends the turn.

        :raises TurnFailed: ``tool_round_limit`` past ``profile.max_tool_rounds``
            rounds, ``transcript_full`` without room for the round and a reply.
        """
        raise NotImplementedError


#: An engine's entry point: ``async def run(turn) -> TurnResult``.
EngineRun = Callable[[Turn], Awaitable[TurnResult]]


def _check_engine_name(_instance: object, _attribute: attrs.Attribute[Any], value: str) -> None:
    if not isinstance(value, str) or not ENGINE_NAME_PATTERN.fullmatch(value):
        raise ValueError("engine names are 1-64 lowercase letters, digits or '-', starting with a letter")


def _check_settings_class(_instance: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not (isinstance(value, type) and attrs.has(value)):
        raise TypeError("TurnEngine.settings must be an attrs class (or None)")


@attrs.frozen
class TurnEngine:
    """A turn engine a plugin registers with ``register_turn_engines``.

    :ivar name: what operators write in a profile (``engine = "llm"``).
    :ivar run: ``async def run(turn: Turn) -> TurnResult``.
    :ivar description: one line for ``runtime-registry plugins``.
    :ivar check: optional ``check(profile: EngineProfile) -> Iterable[ProfileProblem]``,
        called at startup for every profile that uses this engine: return a
        :class:`ProfileProblem` (key, one-line message) for each setting the
        engine cannot use, none (or ``None``) when it can (the operator sees
        each as a configuration error at that key of the profile). It may
        import heavy libraries: it runs only when a profile uses the engine.
        *Deprecated since 0.4, working until 1.0:* raising
        ``ValueError("key: message")`` instead (a ``DeprecationWarning``).
    :ivar replies: whether turns add an ``assistant`` entry (the runtime keeps
        room for it before accepting input). ``False`` only for engines that
        never reply.
    :ivar reads_history: whether the engine reads ``turn.history``. The
        runtime then reads the history before the turn starts, in pages that
        never block the event loop for long; ``False`` spares engines that
        never look at it (``record``, ``echo``) that read.
    :ivar settings: optional attrs class of the engine's settings, which
        operators write in a profile's ``options`` table: each field a key
        (its type and ``annotated-types`` range checked, its
        ``:param name:`` line listed by ``plugins --json``); an unknown key
        is a configuration error with the closest key. The object reaches
        the engine as ``turn.profile.engine_settings``, and ``check`` sees
        it there too. Values are numbers, strings and booleans (what
        ``options`` holds). *Added in 0.4.*
    :ivar settings_open: with ``settings``: whether ``options`` may hold keys
        the class does not declare, left for ``check`` to judge (the ``llm``
        engine: a model plugin's own options). *Added in 0.4.*
    """

    name: str = attrs.field(validator=_check_engine_name)
    run: EngineRun = attrs.field(repr=False)
    description: str = ""
    check: Callable[[EngineProfile], Iterable[ProfileProblem] | None] | None = attrs.field(default=None, repr=False)
    replies: bool = True
    reads_history: bool = True
    settings: type | None = attrs.field(default=None, validator=_check_settings_class, repr=False)
    settings_open: bool = False
