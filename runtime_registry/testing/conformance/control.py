"""Checks of control: cancel ends a turn and keeps the worker, stop is final, delete is for good."""

from __future__ import annotations

from registry_core.errors import UnknownWorker, WorkerStopped
from registry_core.models import InputContent, InputRequest

from .contract import raises, require, succeeds
from .harness import CheckRun, ConformanceHarness, conformance_check
from .shapes import check_action

__all__ = ["ControlChecks"]


class ControlChecks(ConformanceHarness):
    """``cancel_worker``, ``stop_worker`` and ``delete_worker``."""

    @conformance_check(needs=("cancel_worker", "send_input"), slow_turn=True)
    async def test_cancel_ends_the_turn_and_keeps_the_worker(self, run: CheckRun) -> None:
        """Cancel during a turn says `changed=true`, and the worker takes input right after."""
        registry, runtime_id = run.registry, run.runtime_id
        worker_id = await run.the_worker(run.slow_turn)
        await succeeds(
            "send_input", registry.send_input(runtime_id, worker_id, InputRequest(InputContent("conformance")))
        )
        result = await succeeds("cancel_worker during a turn", registry.cancel_worker(runtime_id, worker_id))
        check_action(result, worker_id, "cancel")
        require(result.changed is True, "cancel during a turn must answer changed=true")
        await succeeds(
            "send_input right after cancel (the worker stays usable)",
            registry.send_input(runtime_id, worker_id, InputRequest(InputContent("after cancel"))),
        )

    @conformance_check(needs=("cancel_worker", "create_worker"))
    async def test_cancel_while_idle_changes_nothing(self, run: CheckRun) -> None:
        """Cancel with no turn says `changed=false`."""
        worker_id = await run.the_worker()
        result = await succeeds(
            "cancel_worker of an idle worker", run.registry.cancel_worker(run.runtime_id, worker_id)
        )
        check_action(result, worker_id, "cancel")
        require(result.changed is False, "cancel of a worker with no turn must answer changed=false")

    @conformance_check(needs=("stop_worker",))
    async def test_stop_is_final_and_idempotent(self, run: CheckRun) -> None:
        """A second stop says `changed=false`; input and cancel after stop are `WorkerStopped`."""
        registry, runtime_id = run.registry, run.runtime_id
        worker_id = await run.the_worker()
        first = await succeeds("stop_worker", registry.stop_worker(runtime_id, worker_id))
        check_action(first, worker_id, "stop")
        again = await succeeds("a second stop_worker", registry.stop_worker(runtime_id, worker_id))
        check_action(again, worker_id, "stop")
        require(again.changed is False, "a second stop must answer changed=false (stop is idempotent)")
        if run.capabilities.send_input:
            await raises(
                WorkerStopped,
                "send_input to a stopped worker",
                registry.send_input(runtime_id, worker_id, InputRequest(InputContent("late"))),
            )
        if run.capabilities.cancel_worker:
            await raises(
                WorkerStopped, "cancel_worker of a stopped worker", registry.cancel_worker(runtime_id, worker_id)
            )

    @conformance_check(needs=("delete_worker", "create_worker"))
    async def test_a_deleted_worker_is_gone_for_good(self, run: CheckRun) -> None:
        """A delete (even mid-turn) says `changed=true`; afterwards every one-worker operation, a second delete included,
        is `UnknownWorker`; the list drops it and only it; its id is not given to a new worker."""
        registry, runtime_id = run.registry, run.runtime_id
        doomed = await run.create_worker()
        kept = await run.create_worker()
        if run.capabilities.send_input:
            await succeeds(
                "send_input",
                registry.send_input(runtime_id, doomed.worker_id, InputRequest(InputContent("conformance"))),
            )
        result = await succeeds("delete_worker", registry.delete_worker(runtime_id, doomed.worker_id))
        check_action(result, doomed.worker_id, "delete")
        require(result.changed is True, "a delete must answer changed=true (it always removes the worker)")
        for name, call in run.supported_worker_operations(doomed.worker_id).items():
            await raises(UnknownWorker, f"{name} of a deleted worker", call())
        if run.capabilities.list_workers:
            listed = [worker.worker_id for worker in await run.all_workers(limit=1)]
            require(doomed.worker_id not in listed, "list_workers still lists a deleted worker")
            require(kept.worker_id in listed, "list_workers lost a worker when another one was deleted")
        later = [await run.create_worker() for _ in range(3)]
        require(
            doomed.worker_id not in {worker.worker_id for worker in later},
            f"a new worker was given the deleted worker's id {doomed.worker_id!r}: ids must never be reused",
        )
