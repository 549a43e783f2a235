"""The README's curl session runs as written, and its worker survives the restart it shows.

The session is taken from README.md ("Drive a worker with curl"), split at
its "Restart the server" step: the first half runs with bash and curl against
a real ``runtime-registry serve`` (default configuration), the server is
stopped with SIGTERM as Ctrl-C would, a second server starts in the same
directory, and the second half runs with the ``$W`` and ``$E`` of the first.
Only the port changes, and the live stream (which runs until Ctrl-C) gets
curl's ``--max-time``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ..support.server_process import free_port, serve_command, started, wait_until_healthy

README = Path(__file__).resolve().parents[2] / "README.md"

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")


def session_halves(port: int) -> tuple[str, str]:
    text = README.read_text()
    block = re.search(r"### Drive a worker with curl\n.*?```\n(.*?)```", text, re.S).group(1)
    block = block.replace("localhost:8000", f"127.0.0.1:{port}").replace("curl -sN ", "curl -sN --max-time 1 ")
    before, marker, after = block.partition("# Restart the server")
    assert marker, "the README's curl session shows a restart"
    return before, after


def json_documents(text: str) -> list[object]:
    """The JSON documents curl printed one after another (with no newline between them)."""
    decoder, documents, position = json.JSONDecoder(), [], 0
    while (start := text.find("{", position)) != -1:
        document, position = decoder.raw_decode(text, start)
        documents.append(document)
    return documents


def run(script: str, cwd: Path) -> str:
    done = subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=60)
    return done.stdout


def test_the_readme_curl_session_keeps_its_worker_across_a_restart(tmp_path):
    port = free_port()
    before, after = session_halves(port)
    env = {key: value for key, value in os.environ.items() if not key.startswith("RUNTIME_REGISTRY_")}
    # The first half, then W and E printed for the second.
    first_script = before + '\necho "W=$W"; echo "E=$E"\n'
    with started(serve_command("--port", str(port)), cwd=tmp_path, env=env) as server:
        wait_until_healthy(server, port)
        first = run(first_script, tmp_path)
        server.terminate()  # Ctrl-C
        assert server.wait(timeout=15) == 0
    values = dict(line.split("=", 1) for line in first.splitlines() if re.fullmatch(r"[WE]=\S+", line))
    assert set(values) == {"W", "E"}, first
    with started(serve_command("--port", str(port)), cwd=tmp_path, env=env) as server:
        wait_until_healthy(server, port)
        second = run(f"W={values['W']}; E={values['E']}\n" + after, tmp_path)
    documents = json_documents(second)
    worker, transcript, events = documents[0], documents[1], documents[2]
    assert (worker["worker_id"], worker["status"], worker["transcript_length"]) == (values["W"], "idle", 2)
    assert [(entry["role"], entry["content"]) for entry in transcript["items"]] == [
        ("user", "hello, worker"),
        ("assistant", "hello, worker"),
    ]
    # The cursor from before the restart resumes: the events after the input, no gap, no 410.
    ids = [event["id"] for event in events["events"]]
    assert ids and ids[0] == int(values["E"]) + 1 and ids == list(range(ids[0], ids[0] + len(ids)))
    assert (tmp_path / ".runtime-registry" / "state" / "backend-internal.db").is_file()
