"""A back server and a front server over it (real processes), and helpers to reach them."""

from __future__ import annotations

from collections.abc import Iterator

import attrs
import pytest

from ..support.remote_servers import back_config, front_config
from ..support.server_process import ServerProcess, running_server

BACK_TOKEN = "back-secret-token-93ab1"
TOKEN_ENV = "REMOTE_TEST_BACK_TOKEN"

#: The back server's read-only runtime (local-compat): the front must narrow to its capabilities.
READ_ONLY = """
[[runtimes]]
id = "disk"
kind = "local-compat"
[runtimes.settings]
data_dir = "/nonexistent/remote-front-test"
workspace_root = "/srv/workspace"
"""


@attrs.frozen
class Pair:
    """A front server whose runtimes ``gpu`` (back-a), ``gpu-2`` (back-b) and ``ro`` (disk) are the back server's."""

    front: ServerProcess
    back: ServerProcess


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    folder = tmp_path_factory.mktemp("remote-pair")
    with running_server(back_config(folder, token=BACK_TOKEN, extra=READ_ONLY), log=folder / "back.log") as back:
        remotes = [("gpu", back.base_url, "back-a"), ("gpu-2", back.base_url, "back-b"), ("ro", back.base_url, "disk")]
        config = front_config(folder, remotes, token_env=TOKEN_ENV)
        with running_server(config, log=folder / "front.log", environ={TOKEN_ENV: BACK_TOKEN}) as front:
            yield Pair(front, back)
