"""Reading the pod store on disk: the entries of ``{data_dir}/pods`` and their metadata files.

Everything here is blocking file-system work, bounded per call:

- :meth:`PodStore.listing` reads the *names* of the pod entries (one
  ``scandir``, no file opened), derives their worker ids and sorts by id. It
  is cached while the directory's own stat is unchanged.
- :meth:`PodStore.examine` looks at one entry: symlink containment, a size
  bound, a non-blocking open (a FIFO called ``metadata.json`` must not hang
  the runtime), the projection. Results are cached by the file's
  ``(device, inode, size, mtime, ctime)``.

A cache entry is only trusted for files (and directories) whose mtime is at
least :data:`SETTLE_NS` old when they were read: a write in the same
timestamp tick as our read would otherwise leave a stale entry behind with an
unchanged stat (the "racy clean" problem git solves the same way).

A :class:`PodStore` is not thread-safe; its owner runs it on one thread.
"""

from __future__ import annotations

import bisect
import enum
import errno
import os
import stat
import time
from collections import OrderedDict

import attrs

from registry_core.models import Diagnostic
from runtime_registry.runtimes.local_compat.metadata import LocalWorker, project_metadata
from runtime_registry.runtimes.local_compat.settings import LocalCompatSettings
from runtime_registry.runtimes.local_compat.skips import SkipReason
from runtime_registry.runtimes.local_compat.worker_ids import worker_id_for
from runtime_registry.runtimes.local_compat.workspace import workspace_parts

__all__ = ["PodStore", "PodListing", "StoreUnreadable", "SETTLE_NS", "METADATA_FILE"]

#: How old an mtime must be before a stat-keyed cache entry is trusted.
SETTLE_NS = 2_000_000_000
#: The metadata file inside each pod directory.
METADATA_FILE = b"metadata.json"

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_READ_CHUNK = 64 * 1024


class StoreUnreadable(Exception):
    """The data directory cannot be used; ``diagnostic`` says why without naming it."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


class _EntryType(enum.Enum):
    DIRECTORY = "directory"
    SYMLINK = "symlink"
    OTHER = "other"
    UNKNOWN = "unknown"


@attrs.frozen
class PodListing:
    """The pod entries at one moment, sorted by worker id.

    :param ids: worker ids, ascending.
    :param names: the raw directory names, aligned with ``ids``.
    :param types: what ``scandir`` said each entry is, aligned with ``ids``.
    :param index: worker id -> position.
    :param diagnostics: notes about the listing as a whole (truncation, id collisions).
    """

    ids: tuple[str, ...]
    names: tuple[bytes, ...]
    types: tuple[_EntryType, ...]
    index: dict[str, int]
    diagnostics: tuple[Diagnostic, ...] = ()

    def position_after(self, key: str) -> int:
        """The position of the first id that sorts after ``key``."""
        return bisect.bisect_right(self.ids, key)


_EMPTY = PodListing((), (), (), {})
_StatKey = tuple[int, int, int, int, int]


class PodStore:
    """The pod store of one data directory, read with bounded work and small caches."""

    def __init__(self, settings: LocalCompatSettings) -> None:
        self._settings = settings
        self._data_dir = os.fsencode(settings.data_dir)
        self._pods = os.path.join(self._data_dir, b"pods")
        workspace = workspace_parts(settings.workspace_root)
        if workspace is None:
            # The settings class refuses such roots; never let "no workspace"
            # (None) be compared with a metadata root that is also unusable.
            raise ValueError("workspace_root: must be an absolute path without '..' or NUL characters")
        self._workspace = workspace
        self._listing: PodListing | None = None
        self._listing_key: _StatKey | None = None
        self._ids: dict[bytes, str] = {}
        self._results: OrderedDict[bytes, tuple[_StatKey, LocalWorker | SkipReason]] = OrderedDict()

    # -- the directory -------------------------------------------------------------

    def check(self) -> Diagnostic | None:
        """Why the store cannot be listed (severity ``error``), a note (``info``), or ``None``. Never raises."""
        try:
            if self._pods_stat() is None:
                return Diagnostic.info("local_pods_missing", "the data directory has no pods directory yet: no workers")
            with os.scandir(self._pods):
                pass
        except StoreUnreadable as problem:
            return problem.diagnostic
        except OSError:
            return _unreadable()
        return None

    def listing(self) -> PodListing:
        """The current pod entries (names only; nothing opened). Raises :class:`StoreUnreadable`."""
        pods_stat = self._pods_stat()
        if pods_stat is None:
            return _EMPTY
        key = _stat_key(pods_stat)
        if self._listing is not None and key == self._listing_key:
            return self._listing
        started = time.time_ns()
        try:
            listing = self._scan()
        except OSError:
            raise StoreUnreadable(_unreadable()) from None
        settled = started - pods_stat.st_mtime_ns > SETTLE_NS
        self._listing, self._listing_key = (listing, key) if settled else (None, None)
        return listing

    def _pods_stat(self) -> os.stat_result | None:
        """The pods directory's stat, or ``None`` when there is none yet (an empty store)."""
        try:
            data_stat = os.stat(self._data_dir)
        except FileNotFoundError:
            raise StoreUnreadable(
                Diagnostic.error("local_data_dir_missing", "the configured data directory does not exist")
            ) from None
        except OSError:
            raise StoreUnreadable(_unreadable()) from None
        if not stat.S_ISDIR(data_stat.st_mode):
            raise StoreUnreadable(
                Diagnostic.error("local_data_dir_not_a_directory", "the configured data directory is not a directory")
            )
        try:
            pods_stat = os.stat(self._pods)
        except FileNotFoundError:
            return None
        except OSError:
            raise StoreUnreadable(_unreadable()) from None
        if not stat.S_ISDIR(pods_stat.st_mode):
            raise StoreUnreadable(
                Diagnostic.error("local_pods_not_a_directory", "the data directory's pods entry is not a directory")
            )
        return pods_stat

    def _scan(self) -> PodListing:
        limit = self._settings.max_pod_entries
        known_ids = self._ids
        ids_now: dict[bytes, str] = {}
        by_id: dict[str, tuple[bytes, _EntryType]] = {}
        truncated = False
        collisions = 0
        with os.scandir(self._pods) as iterator:
            for entry in iterator:
                if len(ids_now) >= limit:
                    truncated = True
                    break
                name = entry.name
                # Ids of names seen in the previous scan are reused: a re-list
                # of an unchanged name costs a dict lookup, not a digest.
                worker_id = known_ids.get(name) or worker_id_for(name)
                ids_now[name] = worker_id
                other = by_id.get(worker_id)
                if other is not None:
                    # Two names, one id: the smaller name keeps it, on every
                    # scan alike. Practically unreachable with 64 bits.
                    collisions += 1
                    if other[0] < name:
                        continue
                by_id[worker_id] = (name, _entry_type(entry))
        self._ids = ids_now
        ids = sorted(by_id)
        names = [by_id[worker_id][0] for worker_id in ids]
        types = [by_id[worker_id][1] for worker_id in ids]
        diagnostics = []
        if truncated:
            diagnostics.append(
                Diagnostic.warning(
                    "local_pods_truncated",
                    f"the pods directory holds more than {limit} entries (max_pod_entries); the rest are not listed",
                )
            )
        if collisions:
            diagnostics.append(
                Diagnostic.warning(
                    SkipReason.ID_COLLISION.value,
                    f"{collisions} pod entries not listed: {SkipReason.ID_COLLISION.explanation}",
                )
            )
        return PodListing(tuple(ids), tuple(names), tuple(types), {w: i for i, w in enumerate(ids)}, tuple(diagnostics))

    # -- one entry -------------------------------------------------------------------

    def examine(self, listing: PodListing, position: int) -> LocalWorker | SkipReason:
        """The listable worker at ``position`` of ``listing``, or why it is not listable."""
        name, entry_type = listing.names[position], listing.types[position]
        if entry_type is _EntryType.OTHER:
            return SkipReason.NOT_A_DIRECTORY
        metadata_path = os.path.join(self._pods, name, METADATA_FILE)
        try:
            return self._examine_file(listing.ids[position], name, metadata_path, entry_type)
        except OSError as error:
            if error.errno == errno.ENOENT:
                return SkipReason.METADATA_MISSING
            if error.errno == errno.ENOTDIR:
                return SkipReason.NOT_A_DIRECTORY
            return SkipReason.METADATA_UNREADABLE

    def _examine_file(
        self, worker_id: str, name: bytes, path: bytes, entry_type: _EntryType
    ) -> LocalWorker | SkipReason:
        file_stat = os.lstat(path)
        if entry_type is not _EntryType.DIRECTORY or stat.S_ISLNK(file_stat.st_mode):
            # A symbolic link somewhere on the way: only follow it if it stays
            # inside the data directory (or the pods directory, when that is a
            # link to another disk).
            real = os.path.realpath(path)
            if not self._contained(real):
                return SkipReason.OUTSIDE_DATA_DIR
            path = real
            file_stat = os.stat(path)
        if not stat.S_ISREG(file_stat.st_mode):
            return SkipReason.METADATA_UNREADABLE
        key = _stat_key(file_stat)
        cached = self._results.get(name)
        if cached is not None and cached[0] == key:
            self._results.move_to_end(name)
            return cached[1]
        started = time.time_ns()
        if file_stat.st_size > self._settings.max_metadata_bytes:
            result: LocalWorker | SkipReason = SkipReason.METADATA_TOO_LARGE
        else:
            raw = self._read_bounded(path)
            result = (
                SkipReason.METADATA_TOO_LARGE
                if raw is None
                else project_metadata(raw, directory_name=name, worker_id=worker_id, workspace=self._workspace)
            )
        if started - file_stat.st_mtime_ns > SETTLE_NS:
            self._remember(name, key, result)
        return result

    def _read_bounded(self, path: bytes) -> bytes | None:
        """The file's bytes, or ``None`` if it grew past the bound while being read."""
        limit = self._settings.max_metadata_bytes
        descriptor = os.open(path, _OPEN_FLAGS)
        try:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                raise OSError(errno.EINVAL, "not a regular file")
            chunks: list[bytes] = []
            size = 0
            while size <= limit:
                chunk = os.read(descriptor, min(_READ_CHUNK, limit + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        finally:
            os.close(descriptor)
        return None if size > limit else b"".join(chunks)

    def _contained(self, real: bytes) -> bool:
        for root in (os.path.realpath(self._data_dir), os.path.realpath(self._pods)):
            if real.startswith(root.rstrip(b"/") + b"/"):
                return True
        return False

    def _remember(self, name: bytes, key: _StatKey, result: LocalWorker | SkipReason) -> None:
        capacity = self._settings.cache_entries
        if capacity == 0:
            return
        self._results[name] = (key, result)
        self._results.move_to_end(name)
        while len(self._results) > capacity:
            self._results.popitem(last=False)

    @property
    def cached_results(self) -> int:
        """How many parsed entries the cache holds (for tests and benchmarks)."""
        return len(self._results)


def _entry_type(entry: os.DirEntry[bytes]) -> _EntryType:
    try:
        if entry.is_symlink():
            return _EntryType.SYMLINK
        return _EntryType.DIRECTORY if entry.is_dir(follow_symlinks=False) else _EntryType.OTHER
    except OSError:
        return _EntryType.UNKNOWN


def _stat_key(value: os.stat_result) -> _StatKey:
    return (value.st_dev, value.st_ino, value.st_size, value.st_mtime_ns, value.st_ctime_ns)


def _unreadable() -> Diagnostic:
    return Diagnostic.error("local_data_dir_unreadable", "the configured data directory cannot be read")
