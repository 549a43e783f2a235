"""``runtime-registry check-config FILE``: every problem of a configuration in one run, without serving.

The file is checked section by section (``[server]``, ``[plugins]``, each
runtime on its own), then the sound runtimes' kinds and settings, then they
are started (and closed) as ``serve`` would: each problem is one line,
``runtime-registry: FILE:LINE: WHERE: WHAT``. A runtime is named by its id
(``runtime 'notes': settings.max_workers``) rather than its place in the
file; the line is the key's where it can be found (else its table's). An
unknown key, kind, engine or tool gets the closest known name as a
suggestion, and ``[runtimes]`` written for ``[[runtimes]]`` is explained.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import re
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from registry_core.models import RuntimeSummary
from runtime_registry.host.assembly import assemble
from runtime_registry.host.config import ConfigProblem, apply_environment, check_config_data, load_config
from runtime_registry.host.plugin_loading import PluginSet
from runtime_registry.host.registry import RuntimeRegistry
from runtime_registry.server.cli.binding import insecure_bind_problem
from runtime_registry.server.cli.common import EXIT_OK, EXIT_USAGE, PROG, error, logging_off

__all__ = ["check_config", "problem_lines"]

_RUNTIME_PATH = re.compile(r"runtimes\[(\d+)\](?:\.(.*))?")
_UNKNOWN_NAME = re.compile(
    r"no loaded plugin provides runtime kind '(?P<kind>[^']*)'$"
    r"|no loaded plugin registers an engine '(?P<engine>[^']*)'"
    r"|no loaded plugin registers a tool '(?P<tool>[^']*)'$"
)


def check_config(args: argparse.Namespace) -> int:
    """The ``check-config`` command."""
    source = args.file
    try:
        text = Path(source).read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        # Unreadable or not TOML: the one line the loader gives, as serve would.
        load_config(source)
        raise
    config, problems = check_config_data(data)
    config = apply_environment(config)
    with logging_off():
        assembly = assemble(config, strict=True, source=source, problems=problems)
        runtimes = asyncio.run(_started(assembly.registry))
    index_of = {runtime_id: index for index, runtime_id in enumerate(_runtime_ids(data))}
    problems += [
        ConfigProblem(f"runtimes[{index_of.get(runtime.runtime_id, 0)}]", diagnostic.message)
        for runtime in runtimes
        for diagnostic in runtime.diagnostics
        if diagnostic.code == "runtime_failed"
    ]
    if problems:
        for line in problem_lines(source, text, data, problems, assembly.plugins):
            error(line)
        return EXIT_USAGE
    # Problems that do not stop a runtime from starting (an unset key_env), as
    # each kind reports them, with the settings path they start with.
    indexes = {entry.id: index for index, entry in enumerate(config.runtimes)}
    for runtime_id, lines in assembly.registry.configuration_warnings().items():
        for line in lines:
            print(f"{PROG}: warning: {args.file}: runtimes[{indexes[runtime_id]}].settings.{line}", file=sys.stderr)
    warning = insecure_bind_problem(
        config.server.host, token=config.server.token, allow_insecure_bind=config.server.allow_insecure_bind
    )
    if warning is not None:
        print(f"{PROG}: warning: {source}: server.host: {warning}", file=sys.stderr)
    summary = ", ".join(f"{r.runtime_id} ({r.kind})" for r in runtimes) or "no runtimes"
    print(f"{source}: ok: {summary}")
    return EXIT_OK


async def _started(registry: RuntimeRegistry) -> tuple[RuntimeSummary, ...]:
    """Start the runtimes as ``serve`` would, read their summaries, close them."""
    await registry.start()
    try:
        return (await registry.list_runtimes()).items
    finally:
        await registry.close()


def _runtime_ids(data: Mapping[str, Any]) -> list[object]:
    """The ``id`` of each runtime table of the file, in order (``None`` where there is none)."""
    raw = data.get("runtimes")
    tables = [raw] if isinstance(raw, dict) else raw if isinstance(raw, list) else []
    return [table.get("id") if isinstance(table, dict) else None for table in tables]


def problem_lines(
    source: str, text: str, data: Mapping[str, Any], problems: list[ConfigProblem], plugins: PluginSet
) -> list[str]:
    """One ``FILE:LINE: WHERE: WHAT`` line per problem, in the order of the file."""
    ids = _runtime_ids(data)
    lines = []
    for problem in problems:
        line = _line_of(text, problem.path)
        where = problem.path
        match = _RUNTIME_PATH.fullmatch(problem.path)
        if match and int(match[1]) < len(ids) and isinstance(ids[int(match[1])], str):
            where = f"runtime {ids[int(match[1])]!r}" + (f": {match[2]}" if match[2] else "")
        message = _with_name_suggestion(problem.message, plugins)
        location = f"{source}:{line}" if line else source
        lines.append((line or 0, f"{location}: {where + ': ' if where else ''}{message}"))
    return [text for _, text in sorted(lines, key=lambda pair: pair[0])]


def _with_name_suggestion(message: str, plugins: PluginSet) -> str:
    """The closest loaded kind, engine or tool name for one that no plugin provides."""
    match = _UNKNOWN_NAME.search(message)
    if match is None or "did you mean" in message or "disabled" in message:
        return message
    if match["kind"] is not None:
        name, known = match["kind"], [kind for plugin in plugins.plugins for kind in plugin.kinds]
    elif match["engine"] is not None:
        name, known = match["engine"], list(plugins.engines)
    else:
        name, known = match["tool"], list(plugins.tools)
    close = difflib.get_close_matches(name, known, n=1)
    return f"{message}; did you mean {close[0]!r}?" if close else message


def _line_of(text: str, path: str) -> int | None:
    """The line of the key ``path`` names, as far as a plain reading of the file finds it; ``None`` if not."""
    lines = text.splitlines()
    parts = [part for part in re.split(r"\.|(?=\[\d+\])", path) if part]
    start, end = 0, len(lines)
    if parts and parts[0] == "runtimes":
        headers = [n for n, line in enumerate(lines) if re.match(r"\s*\[\[?\s*runtimes\s*\]\]?\s*(#.*)?$", line)]
        index_match = re.fullmatch(r"\[(\d+)\]", parts[1]) if len(parts) > 1 else None
        if index_match is None:
            return headers[0] + 1 if headers else None
        index = int(index_match[1])
        if index >= len(headers):
            return None
        start = headers[index]
        end = headers[index + 1] if index + 1 < len(headers) else len(lines)
        parts = parts[2:]
        if not parts:
            return start + 1
    elif parts and parts[0] in ("server", "plugins"):
        header = next((n for n, line in enumerate(lines) if re.match(rf"\s*\[\s*{parts[0]}\s*\]", line)), None)
        if header is not None:
            start = header
        parts = parts[1:]
        if not parts:
            return start + 1 if header is not None else None
    # The last plain key of the path, at the start of a line (key = ...) or inside an inline table.
    key = next((part for part in reversed(parts) if not part.startswith("[")), None)
    if key is None:
        return start + 1
    pattern = re.compile(rf"(^|[{{,\s]){re.escape(key)}\s*=")
    for number in range(start, end):
        if pattern.search(lines[number]):
            return number + 1
    return start + 1 if start else None
