"""Where the example third-party package lives, and importing it from its checkout."""

from __future__ import annotations

import sys
from pathlib import Path

#: ``docs/examples/subprocess-runtime``: a separate pip package with its own tests.
EXAMPLE_PACKAGE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "subprocess-runtime"


def make_example_importable() -> None:
    """Put the example's ``src`` on ``sys.path`` so its provider imports without an install."""
    source = str(EXAMPLE_PACKAGE / "src")
    if source not in sys.path:
        sys.path.insert(0, source)
