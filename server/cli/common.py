"""What every command shares: the program name, exit codes, one-line errors, loading a configuration."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator

from runtime_registry.host.config import RegistryConfig, apply_environment, load_config

__all__ = [
    "add_connection_options",
    "URL_ENV",
    "TOKEN_ENV",
    "DEFAULT_URL",
    "PROG",
    "EXIT_OK",
    "EXIT_FAILED",
    "EXIT_USAGE",
    "EXIT_INTERRUPTED",
    "error",
    "load",
    "logging_off",
]

PROG = "runtime-registry"

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

#: Where the commands that talk to a running server find it (never printed).
URL_ENV, TOKEN_ENV = "RUNTIME_REGISTRY_URL", "RUNTIME_REGISTRY_TOKEN"
DEFAULT_URL = "http://127.0.0.1:8000"


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """``--url`` and ``--token``, defaulting to the environment."""
    parser.add_argument("--url", help=f"the server (default: ${URL_ENV}, else {DEFAULT_URL})")
    parser.add_argument(
        "--token", help=f"the bearer token (default: ${TOKEN_ENV}); prefer the variable: ps shows options"
    )


def error(line: str) -> None:
    """Write one line to stderr, prefixed with the program name."""
    print(f"{PROG}: {line}", file=sys.stderr)


def load(path: str | None) -> RegistryConfig:
    """The configuration at ``path`` (``None``: the default), with the environment applied."""
    return apply_environment(load_config(path))


@contextlib.contextmanager
def logging_off() -> Iterator[None]:
    """No log output while the block runs (the one-shot commands print their own findings)."""
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)
