"""A turn: the input goes to the command's stdin, its stdout comes back as the reply."""

from __future__ import annotations

from processes import UPPERCASE, python_command, wait_until_idle

from registry_core import CreateWorkerRequest, InputKind, InputRequest, RuntimeStatus
from registry_core.converter import unstructure
from runtime_registry.testing import find_path_like


async def transcript_of(provider, worker_id):
    page = await provider.read_transcript(worker_id, start=1, limit=100)
    return [(entry.role, entry.content) for entry in page.items]


async def run_one_turn(provider, content="hello"):
    worker = await provider.create_worker(CreateWorkerRequest())
    await provider.send_input(worker.worker_id, InputRequest(content))
    await wait_until_idle(provider, worker.worker_id)
    return worker.worker_id


async def test_the_commands_stdout_becomes_the_assistant_entry(start_provider):
    provider = await start_provider()
    worker_id = await run_one_turn(provider, "hello, plugin")
    assert await transcript_of(provider, worker_id) == [("user", "hello, plugin"), ("assistant", "HELLO, PLUGIN")]


async def test_input_reaches_stdin_as_utf8_text(start_provider):
    provider = await start_provider()
    worker_id = await run_one_turn(provider, "grüße ✓\nline two")
    assert (await transcript_of(provider, worker_id))[-1] == ("assistant", "GRÜSSE ✓\nLINE TWO")


async def test_system_input_is_recorded_with_the_system_role(start_provider):
    provider = await start_provider()
    worker = await provider.create_worker(CreateWorkerRequest())
    await provider.send_input(worker.worker_id, InputRequest("note", kind=InputKind.SYSTEM))
    await wait_until_idle(provider, worker.worker_id)
    assert (await transcript_of(provider, worker.worker_id))[0] == ("system", "note")


async def test_accepting_input_answers_busy_with_the_inputs_sequence(start_provider):
    provider = await start_provider()
    worker = await provider.create_worker(CreateWorkerRequest())
    accepted = await provider.send_input(worker.worker_id, InputRequest("hi"))
    assert (accepted.transcript_sequence, accepted.status) == (1, "busy")
    await wait_until_idle(provider, worker.worker_id)


async def test_a_failing_command_adds_its_exit_status_but_never_its_stderr(start_provider):
    source = "import sys; print('partial'); sys.stderr.write('cannot open /srv/secret/key.pem'); sys.exit(3)"
    provider = await start_provider(python_command(source))
    worker_id = await run_one_turn(provider)
    transcript = await transcript_of(provider, worker_id)
    assert transcript[1:] == [("assistant", "partial"), ("system", "the command exited with status 3")]
    assert "secret" not in repr(transcript)


async def test_a_command_killed_by_a_signal_says_which(start_provider):
    provider = await start_provider(python_command("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"))
    worker_id = await run_one_turn(provider)
    assert (await transcript_of(provider, worker_id))[-1] == ("system", "the command was killed by signal 9")


async def test_a_command_printing_nothing_adds_no_assistant_entry(start_provider):
    provider = await start_provider(python_command("pass"))
    worker_id = await run_one_turn(provider)
    assert await transcript_of(provider, worker_id) == [("user", "hello")]


async def test_output_beyond_the_bound_is_cut_and_the_cut_is_noted(start_provider):
    provider = await start_provider(python_command("print('x' * 100_000)"), max_output_chars=10)
    worker_id = await run_one_turn(provider)
    assert (await transcript_of(provider, worker_id))[1:] == [
        ("assistant", "x" * 10),
        ("system", "its output was cut at 10 characters"),
    ]
    events = (await provider.read_events(cursor=None, limit=100)).events
    assert [e.data["truncated"] for e in events if e.type == "worker.output"] == [True]


async def test_a_command_running_past_its_timeout_is_killed(start_provider):
    provider = await start_provider(python_command("import time; time.sleep(60)"), timeout_seconds=0.1)
    worker_id = await run_one_turn(provider)
    assert (await transcript_of(provider, worker_id))[-1] == (
        "system",
        "the command ran longer than 0.1 s and was killed",
    )
    completed = [
        e for e in (await provider.read_events(cursor=None, limit=100)).events if e.type == "worker.turn_completed"
    ]
    assert completed[0].data["outcome"] == "timed_out"


async def test_a_command_that_cannot_start_is_a_note_without_its_path(start_provider):
    provider = await start_provider(("/nonexistent/bin/subprocess-runtime-test-program",))
    worker_id = await run_one_turn(provider)
    transcript = await transcript_of(provider, worker_id)
    assert transcript[-1] == ("system", "the command could not be started")
    assert find_path_like(unstructure(await provider.read_transcript(worker_id, start=1, limit=10))) == []


async def test_a_missing_program_makes_the_runtime_degraded(start_provider):
    provider = await start_provider(("subprocess-runtime-test-program-that-does-not-exist",))
    state = await provider.describe()
    assert state.status is RuntimeStatus.DEGRADED
    assert [d.code for d in state.diagnostics] == ["command_not_found"]


async def test_the_servers_environment_is_not_passed_to_the_command(start_provider, monkeypatch):
    monkeypatch.setenv("RUNTIME_REGISTRY_TOKEN", "secret-token")
    source = "import os; print(os.environ.get('RUNTIME_REGISTRY_TOKEN', 'no token'), os.environ['GREETING'])"
    provider = await start_provider(python_command(source), environment={"GREETING": "hi"})
    worker_id = await run_one_turn(provider)
    assert (await transcript_of(provider, worker_id))[-1] == ("assistant", "no token hi")


async def test_a_worker_takes_one_turn_after_another(start_provider):
    provider = await start_provider(python_command(UPPERCASE))
    worker_id = await run_one_turn(provider, "one")
    await provider.send_input(worker_id, InputRequest("two"))
    await wait_until_idle(provider, worker_id)
    assert [content for _, content in await transcript_of(provider, worker_id)] == ["one", "ONE", "two", "TWO"]
