"""The suite's harness: the hooks a kind's author implements, the run of one check, and :func:`conformance_check`.

Every check has the same shape: skip unless the kind has what the check
needs, start fresh providers in a fresh event loop behind a real
:class:`~runtime_registry.host.registry.RuntimeRegistry`, run the body under
a deadline, close the providers. :func:`conformance_check` writes that shape
once; a check is an ``async`` method that receives a :class:`CheckRun`.
"""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import attrs
import pytest

from registry_core.models import Capabilities, CreateWorkerRequest, RuntimeStatus
from registry_core.provider import RuntimeProvider
from runtime_registry.host.registry import RuntimeRegistry

from .contract import ContractViolation, require
from .driving import RuntimeUnderTest

__all__ = [
    "CONTRACT_VERSIONS",
    "MISSING_WORKER",
    "RUNTIME_IDS",
    "CheckRun",
    "CheckSpec",
    "ConformanceHarness",
    "NewerContractWarning",
    "conformance_check",
]

#: The contract versions a kind can declare, oldest first: the releases that added rules a kind must follow.
#: ``0.3`` added the event contract (``registry_core.event_contract``): event data and order, cancel
#: reasons, ``worker.deleted``, events after a cancel, stop or delete, content that matches the transcript.
CONTRACT_VERSIONS = ("0.1", "0.2", "0.3")
#: What a conformance class that declares nothing is held to: the contract before kinds could declare one.
UNDECLARED_CONTRACT = "0.2"

#: Ids of the runtimes every check registers; the first is the one under test.
RUNTIME_IDS = ("conformance-0", "conformance-1")
#: A well-formed worker id that no runtime should have.
MISSING_WORKER = "conformance-no-such-worker"

#: A check as :meth:`ConformanceHarness.run_check` runs it: ``check(registry, first_runtime_id)``.
Check = Callable[[RuntimeRegistry, str], Awaitable[None]]

#: How a skip names a single capability a check needs: "the kind does not <phrase>".
_CAPABILITY_PHRASES = {
    "list_workers": "list workers",
    "create_worker": "create workers",
    "stop_worker": "stop workers",
    "read_transcript": "read transcripts",
    "read_events": "read events",
    "stream_events": "stream events",
}


class NewerContractWarning(UserWarning):
    """A kind breaks a rule of a contract newer than the one its conformance class declares.

    The check passes (a minor release does not fail a kind that followed the
    contract it was written to, decision 0162); the warning names the rule,
    what the kind did, and the ``contract_version`` that turns it into a
    failure. ``-W error::runtime_registry.testing.conformance.NewerContractWarning``
    makes it fail now.

    .. versionadded:: 0.4
    """


class ConformanceHarness:
    """The hooks of the suite and the run of one check; :class:`~runtime_registry.testing.RuntimeConformance` adds the checks."""

    contract_version: str = UNDECLARED_CONTRACT
    """The contract your kind follows: one of :data:`CONTRACT_VERSIONS`, the release whose docs it was written to.

    Checks of rules added after it still run, and a breach of one is a
    :class:`NewerContractWarning`, not a failure. Undeclared, a kind is held
    to the ``0.2`` contract (kinds written before 0.3 declared nothing). New
    kinds set the newest version (``contract_version = "0.3"``).

    .. versionadded:: 0.4
    """

    check_timeout: float = 20.0
    """How long a single check may run before it fails, in seconds; provider calls get half of it."""
    close_grace_seconds: float = 2.0
    """How soon ``wait_for_events`` must return once the provider is closed, in seconds."""

    def make_provider(self, runtime_id: str) -> RuntimeProvider:
        """Return a new, not yet started provider of your kind for ``runtime_id``.

        Called once per runtime of a check (up to two, with different ids);
        the providers must not share workers. The restart check calls it a
        second time for the same id after closing the first provider: that is
        a restart of the runtime, so a kind that keeps state outside the
        process must give the new provider the same store.
        """
        raise NotImplementedError("implement make_provider(runtime_id) in your conformance class")

    def existing_worker_id(self, provider: RuntimeProvider) -> str | None:
        """A worker id the (started) provider has, for kinds that cannot create workers.

        ``None`` (the default) lets the suite use the first worker the
        provider lists; checks that need a worker skip if there is none.
        """
        return None

    def slow_turn_request(self) -> CreateWorkerRequest | None:
        """A create request whose workers stay busy for ~0.2 s or more after input (enables busy and cancel checks)."""
        return None

    @classmethod
    def check_names(cls) -> list[str]:
        """The names of the class's conformance checks, in the order pytest runs them."""
        return [name for name, _ in _checks_in_pytest_order(cls)]

    # -- plumbing ----------------------------------------------------------------

    def run_check(self, check: Check, *, runtimes: int = 1) -> None:
        """Run ``check(registry, first_runtime_id)`` in a fresh event loop against fresh, started providers."""

        async def main() -> None:
            async with self._started_registry(runtimes) as registry:
                try:
                    async with asyncio.timeout(self.check_timeout):
                        await check(registry, RUNTIME_IDS[0])
                except TimeoutError:
                    raise ContractViolation(
                        f"the check did not finish within {self.check_timeout:g} s: an operation never returned"
                    ) from None

        asyncio.run(main())

    @contextlib.asynccontextmanager
    async def _started_registry(self, runtimes: int = 1) -> AsyncIterator[RuntimeRegistry]:
        """A registry holding new providers (from :meth:`make_provider`) for the first ``runtimes`` ids, started.

        Every call makes new providers: calling it again for the same id is
        a restart of that runtime. The providers are closed on exit.
        """
        registry = RuntimeRegistry(call_timeout=self.check_timeout / 2)
        for runtime_id in RUNTIME_IDS[:runtimes]:
            registry.register(self.make_provider(runtime_id))
        async with registry:
            for runtime_id in RUNTIME_IDS[:runtimes]:
                summary = await registry.describe_runtime(runtime_id)
                require(
                    summary.status in (RuntimeStatus.RUNNING, RuntimeStatus.DEGRADED),
                    f"the provider must start and describe itself as running or degraded; it is "
                    f"{summary.status.value} ({', '.join(d.code + ': ' + d.message for d in summary.diagnostics)})",
                )
            yield registry


@dataclass(frozen=True)
class CheckSpec:
    """What a check needs before it can run, as :func:`conformance_check` records it on the check."""

    #: Capabilities that must all be true, or the check skips.
    needs: tuple[str, ...] = ()
    #: How many runtimes (of :data:`RUNTIME_IDS`) the check's registry holds.
    runtimes: int = 1
    #: Whether the check needs :meth:`ConformanceHarness.slow_turn_request`, and skips without one.
    slow_turn: bool = False
    #: Why the check needs what it needs, for the skip message.
    why: str | None = None
    #: The contract version that added the rule (one of :data:`CONTRACT_VERSIONS`): a kind that declares an
    #: older one gets a :class:`NewerContractWarning` instead of a failure.
    since: str = "0.1"

    def __post_init__(self) -> None:
        if self.since not in CONTRACT_VERSIONS:
            raise ValueError(f"conformance_check(since=...) must be one of {CONTRACT_VERSIONS}; it is {self.since!r}")
        # A misspelt capability would otherwise surface only when the check runs, as an AttributeError.
        unknown = [name for name in self.needs if name not in attrs.fields_dict(Capabilities)]
        if unknown:
            raise ValueError(f"conformance_check(needs=...) names no capability: {unknown}")

    def skip_reason(self) -> str:
        """The message of the skip when a capability in :attr:`needs` is false."""
        if len(self.needs) == 1 and self.why is None and self.needs[0] in _CAPABILITY_PHRASES:
            return f"the kind does not {_CAPABILITY_PHRASES[self.needs[0]]}"
        return f"needs {' and '.join(self.needs)}" + (f" ({self.why})" if self.why else "")


class CheckRun(RuntimeUnderTest):
    """The runtime under test, as one check's body receives it, with the rest of the check's context."""

    def __init__(
        self, under_test: RuntimeUnderTest, suite: ConformanceHarness, slow_turn: CreateWorkerRequest | None
    ) -> None:
        super().__init__(under_test.registry, under_test.runtime_id, under_test.capabilities, suite.existing_worker_id)
        self.suite = suite
        #: The suite's :meth:`~ConformanceHarness.slow_turn_request` (checks declared with ``slow_turn=True`` only).
        self.slow_turn = slow_turn

    async def other(self) -> RuntimeUnderTest:
        """The second runtime of the registry (checks declared with ``runtimes=2``)."""
        return await RuntimeUnderTest.of(self.registry, RUNTIME_IDS[1], self.suite.existing_worker_id)

    @contextlib.asynccontextmanager
    async def restarted(self, pause: float) -> AsyncIterator[RuntimeUnderTest]:
        """Close every provider, wait ``pause`` seconds, and start new ones for the same runtime: a server restart."""
        await self.registry.close()
        await asyncio.sleep(pause)
        async with self.suite._started_registry() as registry:
            yield await RuntimeUnderTest.of(registry, self.runtime_id, self.suite.existing_worker_id)


Suite = TypeVar("Suite", bound=ConformanceHarness)
CheckBody = Callable[[Suite, CheckRun], Awaitable[None]]


def conformance_check(
    *,
    needs: tuple[str, ...] = (),
    runtimes: int = 1,
    slow_turn: bool = False,
    why: str | None = None,
    since: str = "0.1",
) -> Callable[[CheckBody[Suite]], Callable[[Suite], None]]:
    """Make an ``async def test_...(self, run)`` body a check: a plain pytest test method of the suite.

    The method skips unless every capability in ``needs`` is true (and,
    with ``slow_turn``, unless the suite gives a slow turn request), then
    runs the body with a :class:`CheckRun` in a fresh event loop against
    ``runtimes`` fresh providers, within the suite's ``check_timeout``.
    ``since`` is the contract version that added the rule: against a suite
    whose ``contract_version`` is older, a breach warns instead of failing.
    """
    spec = CheckSpec(needs, runtimes, slow_turn, why, since)

    def decorate(body: CheckBody[Suite]) -> Callable[[Suite], None]:
        def test(self: Suite) -> None:
            slow = None
            if spec.slow_turn:
                slow = self.slow_turn_request()
                if slow is None:
                    pytest.skip("slow_turn_request() gives no slow workers")

            async def check(registry: RuntimeRegistry, runtime_id: str) -> None:
                under_test = await RuntimeUnderTest.of(registry, runtime_id, self.existing_worker_id)
                if not all(getattr(under_test.capabilities, name) for name in spec.needs):
                    pytest.skip(spec.skip_reason())
                await body(self, CheckRun(under_test, self, slow))

            declared = declared_contract(self)
            if _older(declared, spec.since):
                try:
                    self.run_check(check, runtimes=spec.runtimes)
                except ContractViolation as exc:
                    warnings.warn(
                        NewerContractWarning(
                            f"{body.__name__}: {exc} -- a rule of the {spec.since} contract; this kind declares "
                            f"contract_version = {declared!r}, so it warns. Set contract_version = {spec.since!r} "
                            f"once the kind follows it."
                        ),
                        stacklevel=2,
                    )
                return
            self.run_check(check, runtimes=spec.runtimes)

        # Not functools.wraps: pytest would follow __wrapped__ to the body's
        # signature and look for a fixture named ``run``.
        test.__name__, test.__qualname__, test.__module__ = body.__name__, body.__qualname__, body.__module__
        test.__doc__ = body.__doc__
        test.__conformance_check__ = spec  # type: ignore[attr-defined]
        return test

    return decorate


def declared_contract(suite: ConformanceHarness) -> str:
    """The suite's ``contract_version``, checked: a typo must not silently hold a kind to an older contract."""
    version = suite.contract_version
    if version not in CONTRACT_VERSIONS:
        raise ValueError(
            f"{type(suite).__name__}.contract_version must be one of {CONTRACT_VERSIONS}; it is {version!r}"
        )
    return version


def _older(declared: str, since: str) -> bool:
    return CONTRACT_VERSIONS.index(declared) < CONTRACT_VERSIONS.index(since)


def _checks_in_pytest_order(cls: type) -> Iterator[tuple[str, CheckSpec]]:
    """Every check of ``cls`` in pytest's collection order: the most derived definition of each name
    counts, and base classes' names come first (reverse MRO), each class's in definition order."""
    seen: set[str] = set()
    per_class: list[list[tuple[str, CheckSpec]]] = []
    for klass in cls.__mro__:
        checks = []
        for name, value in vars(klass).items():
            if name in seen:
                continue
            seen.add(name)
            spec = getattr(value, "__conformance_check__", None)
            if spec is not None:
                checks.append((name, spec))
        per_class.append(checks)
    for checks in reversed(per_class):
        yield from checks
