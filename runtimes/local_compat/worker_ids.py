"""Worker ids of local workers: a readable prefix plus a digest of the exact name.

A local worker's name is its pod directory's name: any bytes but ``/`` and
NUL. The id must be a valid registry id (1-120 of ``A-Za-z0-9_:-``), stable
across restarts, and different for different names, so it is

    {prefix}-{digest}

where ``prefix`` is the name with every run of other characters replaced by
``_`` (at most 48 characters; ``worker`` when nothing is left) and ``digest``
is 16 hex digits of a keyed BLAKE2b over the raw name bytes. The prefix is for
people; the digest carries identity (64 bits: a collision among even a
million names has odds of about 1 in 36 million). Ids are never parsed back:
lookups compare against the ids of the names on disk.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["worker_id_for", "looks_like_a_local_worker_id", "PREFIX_MAX_CHARS", "DIGEST_HEX_CHARS"]

#: The longest readable prefix of an id.
PREFIX_MAX_CHARS = 48
#: Hex digits of the name digest.
DIGEST_HEX_CHARS = 16

_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9_-]+")
_LOCAL_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{PREFIX_MAX_CHARS}}}-[0-9a-f]{{{DIGEST_HEX_CHARS}}}")
# A fixed personalisation: ids from this scheme never equal digests made for
# another purpose from the same bytes.
_PERSON = b"rr-local-compat"


def worker_id_for(name: bytes) -> str:
    """The worker id of the pod directory called ``name`` (raw bytes, as on disk)."""
    text = name[: PREFIX_MAX_CHARS * 4].decode("ascii", "replace")
    prefix = _UNSAFE_RUN.sub("_", text).strip("_-")[:PREFIX_MAX_CHARS] or "worker"
    digest = hashlib.blake2b(name, digest_size=DIGEST_HEX_CHARS // 2, person=_PERSON).hexdigest()
    return f"{prefix}-{digest}"


def looks_like_a_local_worker_id(worker_id: str) -> bool:
    """Whether ``worker_id`` has the shape :func:`worker_id_for` produces (a cheap pre-check)."""
    return _LOCAL_ID.fullmatch(worker_id) is not None
