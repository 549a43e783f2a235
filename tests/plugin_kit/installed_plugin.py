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
import socket
import site
import subprocess
import time
import venv
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx

from .example_package import EXAMPLE_PACKAGE

#: What the ``runtime-registry`` console script does, run with the venv's Python
#: (the script itself lives in this environment's bin and would use its Python).
CLI = "import sys; from server.cli import main; sys.argv[0] = 'runtime-registry'; sys.exit(main())"


def host_site_directories() -> list[str]:
    """Where this environment's runtime-registry and its dependencies are installed."""
    directories = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        directories.append(site.getusersitepackages())
    return list(dict.fromkeys(directories))


def create_plugin_environment(root: Path) -> Path:
    """Create the venv, pip-install the example package into it, and return the venv's Python."""
    venv.EnvBuilder(with_pip=False).create(root / "venv")
    python = root / "venv" / "bin" / "python"
    site_packages = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    bridge = "".join(f"import site; site.addsitedir({directory!r})\n" for directory in host_site_directories())
    (Path(site_packages) / "_runtime_registry_under_test.pth").write_text(bridge)
    # Build from a copy: setuptools writes build/ and *.egg-info into the source tree.
    source = shutil.copytree(
        EXAMPLE_PACKAGE, root / "source",
        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache"),
    )
    result = subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "--no-cache-dir", "--disable-pip-version-check", "--quiet",
         *_build_isolation_options(), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    if result.returncode != 0:
        raise AssertionError(f"pip install of the example package failed:\n{result.stdout}\n{result.stderr}")
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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_server(
    python: Path, config: Path, *, log: Path, env: Mapping[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``runtime-registry serve`` on a free port; yields its base URL and process, terminates it by pid after."""
    port = free_port()
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [python, "-c", CLI, "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
            cwd=config.parent, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )
        try:
            base_url = f"http://127.0.0.1:{port}"
            _wait_until_healthy(base_url, process, log)
            yield base_url, process
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_healthy(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"the server did not become healthy:\n{log.read_text(errors='replace')}")

