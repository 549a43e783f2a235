"""``runtime-registry plugins``: the discovered plugins and their state, as a table or JSON."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys

from registry_core.converter import unstructure
from runtime_registry.host.plugin_loading import discover_plugins, load_plugins
from runtime_registry.server.cli.common import EXIT_OK, load, logging_off

__all__ = ["plugins"]


def plugins(args: argparse.Namespace) -> int:
    config = load(args.config)
    # A broken plugin is reported in the table; its traceback is not for this
    # listing. A plugin that prints while it is imported must not corrupt the
    # listing (``--json`` output is read by programs): its output goes to stderr.
    with logging_off(), contextlib.redirect_stdout(sys.stderr):
        plugins = load_plugins(discover_plugins(), enabled=config.plugins.enabled, disabled=config.plugins.disabled)
    if args.json:
        print(json.dumps({"items": unstructure(plugins.listing())}, indent=2))
        return EXIT_OK
    rows = [("NAME", "VERSION", "KINDS", "ENGINES", "TOOLS", "STATE", "REASON")]
    rows += [
        (
            p.name,
            p.version,
            ",".join(p.kinds) or "-",
            ",".join(p.engines) or "-",
            ",".join(p.tools) or "-",
            p.state.value,
            p.reason or "",
        )
        for p in plugins.plugins
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    for row in rows:
        print(("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[6]).rstrip())
    return EXIT_OK
