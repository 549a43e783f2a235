"""The server's log: ``text`` (one human line per record) or ``json`` (one JSON object per line), both redacted.

``serve --log-format json`` writes objects with ``time`` (ISO 8601, UTC),
``level``, ``logger`` and ``message``, plus the record's own fields where it
has them: the access line's ``request_id``, ``method``, ``path``, ``status``
and ``latency_ms``; a traceback as ``exception``. Every string that goes out
— the message, each field, the traceback — passes through the credential
redaction (:mod:`runtime_registry.server.log_redaction`), whichever the format.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from runtime_registry.server.log_redaction import CredentialRedactingFilter, redact_credentials

__all__ = ["LOG_FORMATS", "JsonFormatter", "TEXT_FORMAT", "configure_logging"]

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
#: Record attributes a JSON line carries when a record has them (the access line sets these).
EXTRA_FIELDS = ("request_id", "method", "path", "status", "latency_ms", "runtime", "worker", "turn", "code")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact_credentials(record.getMessage()),
        }
        for name in EXTRA_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = redact_credentials(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = redact_credentials(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str, log_format: str = "text") -> None:
    """Send the root logger's records to stderr in ``log_format``, at ``level``, through the redaction.

    Like :func:`logging.basicConfig`, it leaves a root logger that already has handlers as it is
    (a host that configured logging itself; pytest).
    """
    root = logging.getLogger()
    root.setLevel(level.upper())
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    # On the handler, not a logger: every line written passes through it.
    handler.addFilter(CredentialRedactingFilter())
    root.addHandler(handler)
