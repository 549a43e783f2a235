"""The conformance suite for runtime kinds: subclass :class:`RuntimeConformance` in your tests.

Example (``tests/test_conformance.py`` of a plugin package)::

    from runtime_registry.testing import RuntimeConformance
    from acme_runtime.provider import AcmeProvider
    from acme_runtime.settings import AcmeSettings

    class TestAcmeConformance(RuntimeConformance):
        def make_provider(self, runtime_id):
            return AcmeProvider(runtime_id, AcmeSettings())

Plain ``pytest`` then collects every check against your provider; nothing
else is needed. Each check builds fresh providers inside its own event loop,
registers them in a real :class:`~runtime_registry.host.registry.RuntimeRegistry`
(so results also pass the registry's shape checks, exactly as they would in
the server) and exercises one part of the contract. A breach fails with a
:class:`ContractViolation` whose message names the rule. A check that needs an
operation your kind does not support skips, saying why.

The checks live in one module per topic:

- :mod:`.summary` — the summary's shape; capabilities true both ways;
- :mod:`.workers` — valid opaque ids, complete listings, unknown workers, routing by runtime;
- :mod:`.transcript` — gapless bounded pages; accepted input where it says;
- :mod:`.events` — ids and cursors, one worker's events, expired cursors, waiting;
- :mod:`.event_contract` — event types and data, their order in a turn and a life, ``cursor=0``;
- :mod:`.restarts` — event ids never reused when the runtime restarts;
- :mod:`.busy` — input while a turn runs is refused and not queued;
- :mod:`.busy_policies` — the ``if_busy`` policies a kind claims: known
  ones, and ``interrupt`` and ``enqueue`` doing what they say;
- :mod:`.control` — cancel, stop and delete;
- :mod:`.turns` — busy status, events against the transcript, a turn ended
  by cancel, stop or delete, ``max_workers`` after delete, profile fallback;
- :mod:`.leaks` — everything returned becomes JSON and holds no path.

They are written on :mod:`.harness` (the hooks, the run of one check,
:func:`~.harness.conformance_check`), :mod:`.driving` and :mod:`.reading` (the
runtime under test, driven and read through the registry) and :mod:`.contract`
(:class:`ContractViolation` and how checks raise it).

Hooks to override:

- :meth:`RuntimeConformance.make_provider` (required);
- :meth:`RuntimeConformance.existing_worker_id` for kinds that cannot create
  workers: an id the provider has (by default the first worker it lists);
- :meth:`RuntimeConformance.slow_turn_request` to enable the busy and cancel
  checks: a create request whose workers stay busy for at least ~0.2 s after
  an input;
- ``contract_version``: the contract your kind follows (``"0.3"`` for a
  kind written now). Rules added after it warn
  (:class:`NewerContractWarning`) instead of failing, so a kind written to
  an older release's docs passes unchanged (decision 0162);
- the attributes ``check_timeout`` (seconds a check may take; provider calls
  get half) and ``close_grace_seconds`` (how soon waiters must return after
  ``close()``).

The suite reads a worker status of ``"busy"`` as "a turn is running" (the
contract's word) when it waits for a turn to end.
"""

from __future__ import annotations

from runtime_registry.testing.paths import find_path_like

from .busy import BusyChecks
from .busy_policies import BusyPolicyChecks
from .contract import ContractViolation
from .control import ControlChecks
from .event_contract import EventContractChecks
from .events import EventChecks
from .harness import CONTRACT_VERSIONS, MISSING_WORKER, RUNTIME_IDS, NewerContractWarning, conformance_check
from .leaks import LeakChecks
from .restarts import RestartChecks
from .summary import SummaryChecks
from .transcript import TranscriptChecks
from .turns import TurnChecks
from .workers import WorkerChecks

__all__ = [
    "CONTRACT_VERSIONS",
    "MISSING_WORKER",
    "RUNTIME_IDS",
    "ContractViolation",
    "NewerContractWarning",
    "RuntimeConformance",
    "conformance_check",
    "find_path_like",
]


# pytest runs inherited tests base-first (in reverse method resolution order),
# so the topics are listed last to first: it runs the summary checks first.
class RuntimeConformance(
    LeakChecks,
    TurnChecks,
    ControlChecks,
    BusyPolicyChecks,
    BusyChecks,
    RestartChecks,
    EventContractChecks,
    EventChecks,
    TranscriptChecks,
    WorkerChecks,
    SummaryChecks,
):
    """Contract checks for one runtime kind. Subclass (as ``Test...``) and implement :meth:`make_provider`.

    :meth:`check_names` lists the checks in the order pytest runs them.
    """
