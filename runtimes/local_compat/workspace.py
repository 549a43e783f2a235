"""Which workspace a worker belongs to: lexical comparison of workspace roots.

Two roots are the same workspace when they name the same components after
dropping empty and ``.`` components (so trailing and doubled slashes do not
matter). A root with a ``..`` component matches nothing: resolving it would
need the file system (symlinks), and guessing could show another workspace's
workers.
"""

from __future__ import annotations

__all__ = ["workspace_parts", "same_workspace"]


def workspace_parts(root: object) -> tuple[str, ...] | None:
    """The comparable components of an absolute root, or ``None`` if it is not one."""
    if not isinstance(root, str) or not root.startswith("/") or "\0" in root:
        return None
    parts = tuple(part for part in root.split("/") if part not in ("", "."))
    if ".." in parts:
        return None
    return parts


def same_workspace(root: object, configured: tuple[str, ...]) -> bool:
    """Whether ``root`` (from metadata, untrusted) names the ``configured`` workspace."""
    return workspace_parts(root) == configured
