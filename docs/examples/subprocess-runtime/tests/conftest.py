"""Fixtures: started providers that run small Python commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from processes import UPPERCASE, python_command
from subprocess_runtime import SubprocessProvider, SubprocessSettings


@pytest.fixture
async def start_provider():
    """``await start_provider(command, **settings)`` gives a started provider, closed after the test.

    Its event ids start at 1 so that tests can name them; pass
    ``event_start_id=None`` for the clock, as the server runs it.
    """
    started: list[SubprocessProvider] = []

    async def start(
        command: tuple[str, ...] = python_command(UPPERCASE), *, event_start_id: int | None = 1, **settings
    ) -> SubprocessProvider:
        provider = SubprocessProvider(
            "test-runtime", SubprocessSettings(command=command, **settings), event_start_id=event_start_id
        )
        await provider.start()
        started.append(provider)
        return provider

    yield start
    for provider in started:
        await provider.close()


@pytest.fixture
def pid_file(tmp_path: Path) -> Path:
    """Where the ``SLEEPER`` command writes its own and its child's pid."""
    return tmp_path / "pids"
