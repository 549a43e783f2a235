"""``runtime-registry new-kind NAME [DIR]``: write a runtime kind's package from the template.

The package is complete as written: a pyproject with the entry point, a
provider on the plugin API's building blocks, settings, tests that run the
conformance suite, a README. Its tests pass as generated and, once installed,
``runtime-registry plugins`` lists it.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from registry_core.kinds import KIND_NAME_PATTERN
from runtime_registry.server.kind_template import TEMPLATES

__all__ = ["NewKindError", "names_for", "write_kind_package"]


class NewKindError(Exception):
    """The package cannot be written; ``str()`` is one line for the operator."""


def names_for(kind: str) -> dict[str, str]:
    """The template's names for ``kind``: module, class stem, distribution and requirement.

    :raises NewKindError: ``kind`` is not a valid kind name.
    """
    if not KIND_NAME_PATTERN.fullmatch(kind):
        raise NewKindError(
            f"{kind!r} is not a kind name: 1-64 lowercase letters, digits or '-', starting with a letter"
        )
    stem = kind.replace("-", "_")
    return {
        "kind": kind,
        "module": f"{stem}_runtime",
        "Class": "".join(part.capitalize() for part in kind.split("-") if part),
        "dist": f"runtime-registry-{kind}",
        "requirement": f"runtime-registry>={_minor_version()}",
    }


def write_kind_package(kind: str, directory: Path | None = None) -> tuple[Path, list[Path]]:
    """Write the package for ``kind`` into ``directory`` (default ``./runtime-registry-KIND``).

    :return: the directory and the files written, relative to it.
    :raises NewKindError: a bad name, or a directory that exists and is not empty
        (nothing of an existing project is ever overwritten).
    """
    names = names_for(kind)
    root = Path(directory) if directory is not None else Path(names["dist"])
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise NewKindError(f"{root} exists and is not an empty directory; choose another DIR")
    written = []
    for path_template, template in TEMPLATES.items():
        relative = Path(path_template.replace("$module", names["module"]))
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(template.substitute(names), encoding="utf-8")
        written.append(relative)
    return root, written


def _minor_version() -> str:
    """``MAJOR.MINOR`` of the runtime-registry installed: the API the package is written against."""
    try:
        version = importlib.metadata.version("runtime-registry")
    except importlib.metadata.PackageNotFoundError:
        from registry_core import __version__ as version
    return ".".join(version.split(".")[:2])
