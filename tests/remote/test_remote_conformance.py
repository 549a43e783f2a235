"""The ``remote`` kind passes the conformance suite, fronting a real server process started here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from registry_core import CreateWorkerRequest
from registry_core.models import Identifier, ProfileSelector
from runtime_registry.plugins.remote import RemoteProvider
from runtime_registry.runtimes.remote.settings import RemoteSettings
from runtime_registry.testing.conformance import RUNTIME_IDS, RuntimeConformance

from ..support.remote_servers import BACK_RUNTIMES, back_config
from ..support.server_process import running_server

#: Each runtime id of the suite fronts its own runtime of the back server (the suite's runtimes share no workers).
REMOTE_OF = dict(zip(RUNTIME_IDS, BACK_RUNTIMES, strict=True))


class TestRemoteConformance(RuntimeConformance):
    contract_version = "0.3"

    url = ""

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def back_server(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
        folder = tmp_path_factory.mktemp("remote-conformance")
        with running_server(back_config(folder), log=folder / "back.log") as server:
            cls.url = server.base_url
            yield

    def make_provider(self, runtime_id: str) -> RemoteProvider:
        settings = RemoteSettings(url=self.url, runtime_id=Identifier(REMOTE_OF[runtime_id]), timeout_seconds=5.0)
        return RemoteProvider(runtime_id, settings)

    def slow_turn_request(self) -> CreateWorkerRequest:
        return CreateWorkerRequest(profile=ProfileSelector("slow-echo"))


#: A back server whose runtimes only list and get workers (local-compat): the front narrows to that.
READ_ONLY_BACK = """
[[runtimes]]
id = "disk-a"
kind = "local-compat"
[runtimes.settings]
data_dir = "/nonexistent/remote-conformance-a"
workspace_root = "/srv/workspace"

[[runtimes]]
id = "disk-b"
kind = "local-compat"
[runtimes.settings]
data_dir = "/nonexistent/remote-conformance-b"
workspace_root = "/srv/workspace"
"""


class TestRemoteOfAReadOnlyRuntimeConformance(RuntimeConformance):
    """Capabilities known only at run time: false exactly where the remote's are, and then 405."""

    contract_version = "0.3"

    url = ""

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def back_server(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
        folder = tmp_path_factory.mktemp("remote-read-only")
        config = folder / "back.toml"
        config.write_text(READ_ONLY_BACK)
        with running_server(config, log=folder / "back.log") as server:
            cls.url = server.base_url
            yield

    def make_provider(self, runtime_id: str) -> RemoteProvider:
        remote = {"conformance-0": "disk-a", "conformance-1": "disk-b"}[runtime_id]
        return RemoteProvider(runtime_id, RemoteSettings(url=self.url, runtime_id=Identifier(remote)))
