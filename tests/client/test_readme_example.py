"""The README's client example runs as written against a real server."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from ..support.server_process import running_server

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_client_example_runs(tmp_path):
    block = re.search(r"<!-- client-example -->\n```python\n(.*?)```", README.read_text(), re.S)
    assert block is not None
    with running_server(log=tmp_path / "server.log") as server:
        code = block.group(1).replace("http://127.0.0.1:8000", server.base_url)
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.endswith("worker.turn_completed") for line in lines)
    assert "1 user hello, worker" in lines and "2 assistant hello, worker" in lines
