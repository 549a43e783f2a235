"""Test tools for runtime-kind authors: the conformance suite and its helpers."""

from runtime_registry.testing.conformance import RuntimeConformance, find_path_like

__all__ = ["RuntimeConformance", "find_path_like"]
