"""A throwaway virtual environment with the example plugin pip-installed, and the real server run from it.

The venv is created without pip and with a ``.pth`` file that adds this
environment's site-packages (runtime-registry and its dependencies) after the
venv's own. So runtime-registry is the one under test, nothing is downloaded
(the build uses this environment's setuptools, see decision 0031), and the
plugin is installed for real: pip builds a wheel and writes the ``.dist-info``
with the ``runtime_registry`` entry point, which the server then discovers like
any operator's install.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import shutil
import site
import subprocess
import venv
from collections.abc import Iterator, Mapping
from pathlib import Path

from tests.support.server_process import CLI, free_port, serve_command, started, wait_until_healthy

from .example_package import EXAMPLE_PACKAGE


def host_site_directories() -> list[str]:
    """Where this environment's runtime-registry and its dependencies are installed."""
    directories = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        directories.append(site.getusersitepackages())
    return list(dict.fromkeys(directories))


def create_plugin_environment(root: Path, package: Path = EXAMPLE_PACKAGE) -> Path:
    """Create the venv, pip-install ``package`` (the example by default) into it, and return the venv's Python."""
    venv.EnvBuilder(with_pip=False).create(root / "venv")
    python = root / "venv" / "bin" / "python"
    site_packages = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    bridge = "".join(f"import site; site.addsitedir({directory!r})\n" for directory in host_site_directories())
    (Path(site_packages) / "_runtime_registry_under_test.pth").write_text(bridge)
    # Build from a copy: setuptools writes build/ and *.egg-info into the source tree.
    source = shutil.copytree(
        package,
        root / "source",
        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache"),
    )
    result = subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--quiet",
            *_build_isolation_options(),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise AssertionError(f"pip install of {package.name} failed:\n{result.stdout}\n{result.stderr}")
    return python


def _build_isolation_options() -> list[str]:
    """Build offline with this environment's setuptools if it can build wheels alone (70.1+).

    Otherwise pip fetches the build backend into an isolated environment, as
    an operator's pip would (the project's own install needs the index too).
    """
    try:
        major, minor = (int(part) for part in importlib.metadata.version("setuptools").split(".")[:2])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return []
    return ["--no-build-isolation", "--no-index"] if (major, minor) >= (70, 1) else []


def run_cli(
    python: Path, *arguments: str, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``runtime-registry ARGUMENTS`` with ``python`` (and ``env`` instead of this process's environment)."""
    return subprocess.run([python, "-c", CLI, *arguments], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


@contextlib.contextmanager
def running_server(
    python: Path, config: Path, *, log: Path, env: Mapping[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``runtime-registry serve`` run by ``python`` on a free port, with ``env`` instead of this process's
    environment; yields its base URL and process, and stops it by pid after."""
    port = free_port()
    command = serve_command("--config", str(config), "--host", "127.0.0.1", "--port", str(port), python=python)
    with log.open("wb") as log_file, started(command, cwd=config.parent, env=env, output=log_file) as process:
        wait_until_healthy(process, port, log=log)
        yield f"http://127.0.0.1:{port}", process
