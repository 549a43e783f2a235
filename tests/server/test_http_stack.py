"""The HTTP stack the server runs: httptools and uvloop when installed, h11 and asyncio's loop otherwise."""

from __future__ import annotations

import importlib.util

import pytest

from runtime_registry.host import parse_config
from runtime_registry.host.config import ConfigError
from runtime_registry.server import cli
from runtime_registry.server.http_protocol import ParserUnavailable, available_loop, available_parser, protocol_class


@pytest.fixture
def without_speedups(monkeypatch):
    """A platform where httptools and uvloop have no wheel: neither can be found."""
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name in ("httptools", "uvloop") else real(name, *a)
    )


def test_auto_is_httptools_and_uvloop_when_installed():
    assert available_parser("auto") == "httptools"
    assert available_loop("auto") == "uvloop"
    assert protocol_class("auto", header_timeout_seconds=1.0).parser_name == "httptools"


def test_auto_falls_back_to_h11_and_asyncio_without_the_speedups(without_speedups):
    assert available_parser("auto") == "h11"
    assert available_loop("auto") == "asyncio"
    protocol = protocol_class("auto", header_timeout_seconds=1.0)
    assert protocol.parser_name == "h11"
    from uvicorn.protocols.http.h11_impl import H11Protocol

    assert issubclass(protocol, H11Protocol)


def test_naming_a_missing_speedup_is_one_line_and_exit_2(without_speedups, tmp_path, capsys):
    with pytest.raises(ParserUnavailable):
        available_parser("httptools")
    config = tmp_path / "registry.toml"
    config.write_text('[server]\nhttp_parser = "httptools"\nport = 0\n')
    assert cli.main(["serve", "--config", str(config)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "httptools is not installed" in error[0]


def test_the_settings_refuse_an_unknown_parser_or_loop():
    with pytest.raises(ConfigError) as raised:
        parse_config('[server]\nhttp_parser = "hyper"\nevent_loop = "trio"\n')
    assert {problem.path for problem in raised.value.problems} == {"server.http_parser", "server.event_loop"}


def test_the_header_timeout_must_be_positive():
    with pytest.raises(ConfigError):
        parse_config("[server]\nheader_timeout_seconds = 0\n")
    with pytest.raises(ValueError):
        protocol_class("h11", header_timeout_seconds=0)
