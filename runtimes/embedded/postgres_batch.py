"""One database round trip for many waiting callers (decision 0231).

A replica under load asks the database the same kind of question many
times at once: "what is the newest committed event id?" before each request
(read-your-writes across replicas), "what ids did my committed events get?"
after each decision. :class:`Batched` answers every caller that arrived
while no call was in flight with **one** call, and a caller that arrives
while a call is in flight with the **next** one — never with a call that
was sent before it arrived, so an answer never predates its question (the
read-your-writes rule needs exactly that: a refresh must see every commit
acknowledged before the request began).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from typing import Any, Generic, TypeVar

__all__ = ["Batched"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Batched(Generic[K, V]):
    """Runs ``call(keys)`` for the keys of every caller waiting, one call at a time.

    :param call: answers a set of keys with a mapping (it may leave keys out;
        their callers get what there is). Its exception goes to every caller
        of that call.
    """

    def __init__(self, call: Callable[[list[K]], Awaitable[Mapping[K, V]]]) -> None:
        self._call = call
        self._waiting: list[tuple[list[K], asyncio.Future[Mapping[K, V]]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def ask(self, keys: Iterable[K]) -> Mapping[K, V]:
        """The answer to ``keys`` from a call sent after this one was asked."""
        future: asyncio.Future[Mapping[K, V]] = asyncio.get_running_loop().create_future()
        # Retrieved even when its caller went away (no "never retrieved" warning).
        future.add_done_callback(_retrieve)
        self._waiting.append((list(keys), future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run())
        # A caller that goes away cancels its own future only: the call goes on
        # for the others (the runner skips futures already done).
        return await future

    async def _run(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            keys = list(dict.fromkeys(key for wanted, _ in batch for key in wanted))
            try:
                answer = await self._call(keys)
            except asyncio.CancelledError:
                for _, future in batch:
                    if not future.done():
                        future.cancel()
                raise
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, future in batch:
                if not future.done():
                    future.set_result(answer)

    async def close(self) -> None:
        """Stop the call in flight (its callers are cancelled); later :meth:`ask` calls start a new one."""
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
        for _, future in self._waiting:
            future.cancel()
        self._waiting = []


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
