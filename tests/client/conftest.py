"""A real server process for the client tests: token, two embedded runtimes, and runtimes that refuse things."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..support.remote_servers import back_config
from ..support.server_process import ServerProcess, running_server

TOKEN = "client-test-token-7f3a"

#: Runtimes besides back-a and back-b: one that holds one worker, one that only lists, one that cannot start.
EXTRA = """
[[runtimes]]
id = "small"
kind = "embedded"
[runtimes.settings]
max_workers = 1

[[runtimes]]
id = "disk"
kind = "local-compat"
[runtimes.settings]
data_dir = "/nonexistent/runtime-registry-client-test"
workspace_root = "/srv/workspace"

[[runtimes]]
id = "ghost"
kind = "no-such-kind"
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("client-server")
    config = back_config(folder, token=TOKEN, extra=EXTRA)
    with running_server(config, log=folder / "server.log") as process:
        yield process
