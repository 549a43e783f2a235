"""``runtime-registry new-kind NAME [DIR]``: write a runtime kind's package from the template.

The package is complete as written: a pyproject with the entry point, a
provider on the plugin API's building blocks, settings, tests that run the
conformance suite, a README. Its tests pass as generated and, once installed,
``runtime-registry plugins`` lists it.

The template is a real package, installed as package data beside this module
(``kind_template/``): its Python files are checked by ruff and mypy like the
rest of the tree. It is written for the kind ``template-kind`` (module
``template_kind_runtime``, classes ``TemplateKind...``); writing it for another
kind replaces those names (:data:`PLACEHOLDERS`). ``gitignore`` is written as
``.gitignore`` (setuptools' package data leaves dot-files out).

``--turns`` writes a kind whose turns take time: the files under the
template's ``turns/`` replace their namesakes (the provider on the
``WorkerLifecycle`` block, settings with ``turn_seconds``, tests whose
conformance class gives a slow turn, so the busy and cancel checks run).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import sys
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from registry_core.kinds import KIND_NAME_PATTERN
from runtime_registry.server.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, error

__all__ = ["NewKindError", "PLACEHOLDERS", "names_for", "write_kind_package", "new_kind"]

#: The template's own names -> the key of :func:`names_for` that replaces each.
PLACEHOLDERS = {
    "template_kind_runtime": "module",
    "TemplateKind": "Class",
    "runtime-registry-template-kind": "dist",
    "template-kind": "kind",
    "runtime-registry>=TEMPLATE_MINOR_VERSION": "requirement",
}
# One pass, longest first, so that a replacement is never replaced again.
_PLACEHOLDER = re.compile("|".join(re.escape(p) for p in sorted(PLACEHOLDERS, key=len, reverse=True)))
_RENAMED = {"gitignore": ".gitignore"}


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


#: The folder of the template whose files replace their namesakes for ``--turns``.
TURNS_OVERLAY = "turns/"


def template_files(*, turns: bool = False) -> list[tuple[str, Traversable]]:
    """The template's files: (path relative to the template, file), sorted by path.

    With ``turns``, the slow kind's: each file under :data:`TURNS_OVERLAY` replaces its namesake.
    """
    found: list[tuple[str, Traversable]] = []

    def walk(folder: Traversable, prefix: str) -> None:
        for item in folder.iterdir():
            if item.name.startswith(".") or item.name == "__pycache__":
                continue  # a tool's cache, never part of the template
            if item.is_dir():
                walk(item, f"{prefix}{item.name}/")
            else:
                found.append((prefix + item.name, item))

    walk(files("runtime_registry.server.cli") / "kind_template", "")
    chosen = {path: item for path, item in found if not path.startswith(TURNS_OVERLAY)}
    if turns:
        chosen.update(
            (path.removeprefix(TURNS_OVERLAY), item) for path, item in found if path.startswith(TURNS_OVERLAY)
        )
    return sorted(chosen.items(), key=lambda pair: pair[0])


def write_kind_package(kind: str, directory: Path | None = None, *, turns: bool = False) -> tuple[Path, list[Path]]:
    """Write the package for ``kind`` into ``directory`` (default ``./runtime-registry-KIND``).

    With ``turns``, a kind whose turns take time, on the ``WorkerLifecycle`` block.

    :return: the directory and the files written, relative to it.
    :raises NewKindError: a bad name, or a directory that exists and is not empty
        (nothing of an existing project is ever overwritten).
    """
    names = names_for(kind)
    root = Path(directory) if directory is not None else Path(names["dist"])
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise NewKindError(f"{root} exists and is not an empty directory; choose another DIR")

    def substitute(text: str) -> str:
        return _PLACEHOLDER.sub(lambda match: names[PLACEHOLDERS[match.group()]], text)

    written = []
    for template_path, template in template_files(turns=turns):
        relative = Path(substitute(_RENAMED.get(template_path, template_path)))
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(substitute(template.read_text(encoding="utf-8")), encoding="utf-8")
        written.append(relative)
    return root, written


def _minor_version() -> str:
    """``MAJOR.MINOR`` of the runtime-registry installed: the API the package is written against."""
    try:
        version = importlib.metadata.version("runtime-registry")
    except importlib.metadata.PackageNotFoundError:
        from registry_core import __version__ as version
    return ".".join(version.split(".")[:2])


def new_kind(args: argparse.Namespace) -> int:
    """The ``new-kind`` command."""
    try:
        root, written = write_kind_package(
            args.name, Path(args.directory) if args.directory else None, turns=getattr(args, "turns", False)
        )
    except NewKindError as exc:
        error(str(exc))
        return EXIT_USAGE
    except OSError as exc:
        error(f"cannot write the package ({exc.strerror or type(exc).__name__})")
        return EXIT_FAILED
    print(f"wrote the {args.name!r} runtime kind's package to {root}:")
    for path in written:
        print(f"  {path}")
    # This Python's own pip: the package must land where runtime-registry runs, not in another Python.
    python = sys.executable
    scripts = Path(python).parent
    print(
        f"next: cd {root} && {python} -m pip install -e '.[test]' && {python} -m pytest && {scripts}/runtime-registry plugins"
    )
    return EXIT_OK
