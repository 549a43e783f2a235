"""Deprecated: moved to :mod:`runtime_registry.host.config` in 0.2; this path goes in 1.0 (docs/decisions/0161)."""

import sys

from registry_core._moved import forward

sys.modules[__name__] = forward(__name__, "runtime_registry.host.config")
