"""Credentials out of the log: query parameters that look like one are written as ``[redacted]``.

uvicorn's access log writes each request's path *with its query string*, so
a client that sends its token as ``?access_token=...`` (some tools do) put
the token in the log verbatim (issue 12, point 8). This filter sits on the
server's log handler, so every line — access log, uvicorn's own, ours —
passes through it: any ``name=value`` after ``?``, ``&`` or ``;`` whose name
contains ``token``, ``key``, ``secret``, ``pass``, ``pwd``, ``auth``,
``session``, ``sig``, ``credential``, ``jwt``, ``bearer`` or ``cookie`` (any
case) keeps its name and loses its value.
"""

from __future__ import annotations

import logging
import re

__all__ = ["REDACTED", "CredentialRedactingFilter", "redact_credentials"]

#: What replaces a credential's value.
REDACTED = "[redacted]"

_CREDENTIAL_PARAMETER = re.compile(
    r"(?P<name>[?&;][^=&;\s\"'#?]*(?:token|key|secret|pass|pwd|auth|session|sig|credential|jwt|bearer|cookie)[^=&;\s\"'#?]*=)"
    r"[^&;\s\"'#]*",
    re.IGNORECASE,
)


def redact_credentials(text: str) -> str:
    """``text`` with the value of every credential-looking query parameter replaced by ``[redacted]``."""
    if "=" not in text:
        return text
    return _CREDENTIAL_PARAMETER.sub(lambda match: match["name"] + REDACTED, text)


class CredentialRedactingFilter(logging.Filter):
    """A handler filter: formats the record's message once, redacted; the record is never dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the formatter to report
            return True
        redacted = redact_credentials(message)
        if redacted is not message and redacted != message:
            record.msg, record.args = redacted, None
        return True
