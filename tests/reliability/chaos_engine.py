"""A turn engine that misbehaves on request: what the chaos property test drives (issue 17).

The turn's input names the behaviour (``BEHAVIOURS``). Every exception it
raises carries :data:`SECRET` in its text, so a test can check that no log line
above debug, no event and no transcript entry ever shows an exception's text.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from registry_core import TokenUsage, ToolCall, Turn, TurnEngine, TurnFailed, TurnResult

__all__ = ["BEHAVIOURS", "SECRET", "Chaos"]

#: In every exception text and never anywhere a client or the default log can read.
SECRET = "sk-chaos-0123 https://upstream.invalid/v1"


class Chaos:
    """The engine and the switch that finally lets its deaf turns go (``released``)."""

    def __init__(self) -> None:
        self.released = False
        self.engine = TurnEngine("chaos", self.run, description="misbehaves on request")

    async def run(self, turn: Turn) -> TurnResult:
        behaviour = BEHAVIOURS.get(turn.input.split(":", 1)[0])
        if behaviour is None:
            return TurnResult(turn.input)
        return await behaviour(self, turn)

    async def _deaf(self) -> None:
        """Sleep until released, swallowing every cancel."""
        while not self.released:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.002)


async def _ok(chaos: Chaos, turn: Turn) -> TurnResult:
    turn.emit("hello ")
    await asyncio.sleep(0)
    turn.emit("world")
    return TurnResult("hello world", TokenUsage(3, 2), "end_turn")


async def _tools(chaos: Chaos, turn: Turn) -> TurnResult:
    outcomes = await turn.run_tools([ToolCall("c1", "nope", {"x": 1})])
    return TurnResult(outcomes[0].output[:20], None, "other")


async def _slow_ok(chaos: Chaos, turn: Turn) -> TurnResult:
    await asyncio.sleep(0.005)
    return TurnResult("slow")


async def _hang(chaos: Chaos, turn: Turn) -> TurnResult:
    await asyncio.sleep(3600)
    return TurnResult("never")


async def _deaf_then_reply(chaos: Chaos, turn: Turn) -> TurnResult:
    await chaos._deaf()
    turn.emit("late delta")
    return TurnResult("late reply", TokenUsage(1, 1))


async def _emit_after_cancel(chaos: Chaos, turn: Turn) -> TurnResult:
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        turn.emit("after the cancel")
        with contextlib.suppress(asyncio.CancelledError):
            await turn.run_tools([ToolCall("late", "nope", {})])
        return TurnResult("after the cancel")
    return TurnResult("never")


def _raiser(exception: Callable[[], BaseException]) -> Callable[[Chaos, Turn], Awaitable[TurnResult]]:
    async def run(chaos: Chaos, turn: Turn) -> TurnResult:
        await asyncio.sleep(0)
        raise exception()

    return run


def _returner(value: Callable[[], object]) -> Callable[[Chaos, Turn], Awaitable[TurnResult]]:
    async def run(chaos: Chaos, turn: Turn) -> TurnResult:
        turn.emit("partial")
        return value()  # type: ignore[return-value]

    return run


def _tampered(field: str, value: object) -> Callable[[], object]:
    def build() -> object:
        result = TurnResult("tampered")
        object.__setattr__(result, field, value)
        return result

    return build


def _garbage(delta: object) -> Callable[[Chaos, Turn], Awaitable[TurnResult]]:
    async def run(chaos: Chaos, turn: Turn) -> TurnResult:
        turn.emit(delta)  # type: ignore[arg-type]
        return TurnResult("after garbage")

    return run


#: Behaviour name -> what the engine does. The test sends ``name:anything``.
BEHAVIOURS: dict[str, Callable[[Chaos, Turn], Awaitable[TurnResult]]] = {
    "ok": _ok,
    "tools": _tools,
    "slow": _slow_ok,
    "hang": _hang,
    "deaf": _deaf_then_reply,
    "late": _emit_after_cancel,
    "value-error": _raiser(lambda: ValueError(SECRET)),
    "timeout-error": _raiser(lambda: TimeoutError(SECRET)),
    "cancelled-error": _raiser(lambda: asyncio.CancelledError(SECRET)),
    "keyboard-interrupt": _raiser(lambda: KeyboardInterrupt(SECRET)),
    "system-exit": _raiser(lambda: SystemExit(SECRET)),
    "turn-failed": _raiser(lambda: TurnFailed("provider_error", "the model provider answered with an error")),
    "none": _returner(lambda: None),
    "str": _returner(lambda: SECRET),
    "dict": _returner(lambda: {"text": SECRET}),
    "usage-dict": _returner(_tampered("usage", {"input_tokens": 1, "output_tokens": 2})),
    "text-bytes": _returner(_tampered("text", SECRET.encode())),
    "stop-because": _returner(_tampered("stop_reason", "because")),
    "delta-bytes": _garbage(SECRET.encode()),
    "delta-none": _garbage(None),
    "delta-int": _garbage(7),
}
