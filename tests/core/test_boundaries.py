"""registry_core stays thin: no web framework, documented public names."""

from __future__ import annotations

import inspect
import subprocess
import sys

import registry_core


def test_registry_core_imports_no_starlette_or_uvicorn():
    code = (
        "import sys, registry_core, runtime_registry.host;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'starlette', 'uvicorn', 'sse_starlette', 'httpx'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_every_public_name_has_a_docstring():
    undocumented = [
        name
        for name in registry_core.__all__
        if (inspect.isclass(obj := getattr(registry_core, name)) or inspect.isfunction(obj)) and not inspect.getdoc(obj)
    ]
    assert undocumented == []
