"""The ``llm`` engine's turn: history from the transcript, a streamed model call, tool rounds.

Imported on first use only (see :mod:`.llm_engine`). One turn:

1. rebuild the messages from the transcript (the system prompt first), and
   pass the conversation both ways llm plugins read it (decision 0122): as
   ``messages=`` (the history) with this turn's input as ``prompt=`` and the
   system prompt as ``system=``, which llm folds into the messages -- so a
   plugin that reads ``prompt.messages`` gets the whole conversation, and one
   that reads ``prompt.prompt``/``prompt.system`` (llm-echo; llm-gemini reads
   the system prompt only there) gets the input and the system prompt;
2. stream the model's answer, emitting each text chunk as it arrives -- the
   only await in the loop is the read of the upstream stream, so a cancel
   lands there; the clients the turn opened are closed in ``finally`` as well,
   so the HTTP connection ends whatever was awaited;
3. if the model asked for tools, run them through ``turn.run_tools`` (which
   records them and enforces the round limit) and ask again with the results
   as ``tool_results=`` (folded into the messages the same way);
4. return the text of every round as the reply, the summed usage and why it stopped.
"""

from __future__ import annotations

import contextlib
import difflib
from typing import Any

import attrs
import llm
from pydantic import ValidationError

from registry_core.engines import EngineProfile, ProfileProblem, TokenUsage, Turn, TurnFailed, TurnResult
from registry_core.tools import ToolCall
from runtime_registry.engines.llm_failures import turn_failure
from runtime_registry.engines.llm_history import history_messages, round_call_message, round_tool_results
from runtime_registry.engines.llm_models import TunedAsyncChat, build_model, resolve_model, turn_key

__all__ = ["check_profile", "run_turn"]

# What OpenAI-style finish reasons mean in our stop_reason vocabulary
# (registry_core.STOP_REASONS); anything else, "tool_calls" without calls
# included, is "other".
_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "content_filter": "content_filter",
}


def check_profile(profile: EngineProfile) -> list[ProfileProblem]:
    """What keeps the engine from running a profile, found at startup: no model, an unknown model, unknown options."""
    if not profile.model:
        return [ProfileProblem("model", "the llm engine needs a model id")]
    problems = []
    if profile.reply_delay_seconds:
        problems.append(ProfileProblem("reply_delay_seconds", "the llm engine takes no reply delay"))
    try:
        model = resolve_model(profile)
    except llm.UnknownModelError:
        problems.append(
            ProfileProblem(
                "model",
                f"{profile.model[:100]!r} is not a model llm or an installed llm plugin knows "
                "(give api_base for a model on an OpenAI-compatible server)",
            )
        )
        return problems
    try:
        model.Options(**model_options(profile))
    except ValidationError as exc:
        problems.append(ProfileProblem("options", _options_refused(exc, list(model.Options.model_fields))))
    if profile.tools and not getattr(model, "supports_tools", False):
        problems.append(ProfileProblem("tools", f"model {profile.model[:100]!r} does not support tools in llm"))
    return problems


def model_options(profile: EngineProfile) -> dict[str, Any]:
    """The options the model is sent: those :class:`~.llm_engine.LlmOptions` declares as read
    (a ``temperature = 1`` is the float 1.0), and the others as the operator wrote them."""
    options = dict(profile.options)
    if profile.engine_settings is not None:
        options.update(
            (key, value) for key, value in attrs.asdict(profile.engine_settings).items() if value is not None
        )
    return options


def _options_refused(exc: ValidationError, known: list[str]) -> str:
    """One line naming each option the model refused, with the closest one it takes for a mistyped name."""
    names = []
    for error in exc.errors():
        if not error.get("loc"):
            continue
        name = str(error["loc"][0])
        close = difflib.get_close_matches(name, known, n=1) if error.get("type") == "extra_forbidden" else []
        names.append(f"{name} (did you mean {close[0]!r}?)" if close else name)
    return f"not options this model takes, or not values it accepts: {', '.join(sorted(set(names)))}"


async def run_turn(turn: Turn) -> TurnResult:
    """One turn of the ``llm`` engine."""
    profile = turn.profile
    key = turn_key(profile)
    if profile.key_env is not None and key is None:
        # Say so rather than send no key and blame the provider for refusing it.
        # The variable's name is the operator's (the log and check-config show it), not the client's.
        raise TurnFailed("provider_auth", "the environment variable the profile's key_env names is not set")
    model = build_model(profile, key)
    tools = [llm.Tool(name=t.name, description=t.description, input_schema=dict(t.input_schema)) for t in turn.tools]
    messages = history_messages(profile.system_prompt, turn.history)
    # A user input goes as prompt= (llm appends it to the messages); a system
    # input only as a message: prompt= would make it a user message.
    prompt: str | None = turn.input
    if turn.input_role != "user":
        messages.append(llm.parts.Message(turn.input_role, [llm.parts.TextPart(turn.input)]))
        prompt = None
    tool_results: list[llm.ToolResult] | None = None
    reply: list[str] = []
    usage: list[TokenUsage | None] = []
    try:
        while True:
            response = model.prompt(
                prompt,
                messages=messages,
                system=profile.system_prompt,
                tool_results=tool_results,
                tools=tools or None,
                options=model_options(profile),
                stream=True,
                **_key_argument(model, profile),
            )
            # The chain as the model was sent it: the history, then this
            # request's input or tool results, as llm folded them in.
            messages = list(response.prompt.messages)
            text = await _stream(turn, response)
            reply.append(text)
            usage.append(_usage(response))
            calls = [
                ToolCall(c.tool_call_id or f"call-{index}", c.name, c.arguments or {})
                for index, c in enumerate(response.tool_calls_or_raise())
            ]
            if not calls:
                return TurnResult("".join(reply), _sum(usage), _stop_reason(response))
            outcomes = await turn.run_tools(calls)
            messages.append(round_call_message(text, calls))
            prompt, tool_results = None, round_tool_results(outcomes)
    except (TurnFailed, llm.ModelError, Exception) as exc:
        if isinstance(exc, TurnFailed):
            raise
        raise turn_failure(exc) from None
    finally:
        await _close_clients(model)


async def _stream(turn: Turn, response: Any) -> str:
    """Read one response's stream, emitting text as it comes; the reads are the only awaits."""
    pieces = []
    async for event in response.astream_events():
        if event.type == "text" and event.chunk:
            pieces.append(event.chunk)
            turn.emit(event.chunk)
    return "".join(pieces)


def _key_argument(model: Any, profile: EngineProfile) -> dict[str, str]:
    # Tuned OpenAI models take the key through their client; other llm models
    # (plugins) take it as llm's explicit key.
    if isinstance(model, TunedAsyncChat):
        return {}
    key = turn_key(profile)
    return {"key": key} if key and isinstance(model, llm.AsyncKeyModel) else {}


def _usage(response: Any) -> TokenUsage | None:
    if response.input_tokens is None and response.output_tokens is None:
        return None
    return TokenUsage(response.input_tokens or 0, response.output_tokens or 0)


def _sum(usages: list[TokenUsage | None]) -> TokenUsage | None:
    reported = [u for u in usages if u is not None]
    if not reported:
        return None
    return TokenUsage(sum(u.input_tokens for u in reported), sum(u.output_tokens for u in reported))


def _stop_reason(response: Any) -> str:
    data = response.response_json if isinstance(response.response_json, dict) else {}
    reason = data.get("finish_reason")
    if not isinstance(reason, str):
        return "end_turn"
    return _STOP_REASONS.get(reason, "other")


async def _close_clients(model: Any) -> None:
    for client in getattr(model, "_clients", ()) or ():
        with contextlib.suppress(Exception):
            await client.close()
