"""What an upstream failure means for a turn: a typed code and a message that reveals nothing.

The upstream exception's text can hold the endpoint and the provider's answer
body; it goes to the log at debug only. The turn's ``worker.turn_failed``
event gets the code and a fixed message (with the HTTP status at most).
"""

from __future__ import annotations

import logging

import llm
import openai

from registry_core.engines import TurnFailed

__all__ = ["turn_failure"]

log = logging.getLogger("runtime_registry.engines.llm")


def turn_failure(exc: Exception) -> TurnFailed:
    """The :class:`TurnFailed` that stands for ``exc`` (an error of llm, openai or an llm plugin)."""
    log.debug("llm engine: the model call failed", exc_info=exc)
    if isinstance(exc, TurnFailed):
        return exc
    if isinstance(exc, llm.NeedsKeyException):
        return TurnFailed("provider_auth", "no key is configured for this profile's model")
    status = _status_of(exc)
    if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)) or status in (401, 403):
        return TurnFailed("provider_auth", f"the model provider refused the credentials (HTTP {status or 401})")
    if isinstance(exc, openai.RateLimitError) or status == 429:
        return TurnFailed("provider_rate_limited", "the model provider is rate limiting requests (HTTP 429)")
    if isinstance(exc, openai.APITimeoutError):
        return TurnFailed("provider_error", "the model provider did not answer in time")
    if isinstance(exc, openai.APIConnectionError):
        return TurnFailed("provider_error", "the model provider could not be reached")
    if status is not None:
        return TurnFailed("provider_error", f"the model provider answered with an error (HTTP {status})")
    return TurnFailed("provider_error", f"the model call failed ({type(exc).__name__})")


def _status_of(exc: Exception) -> int | None:
    # openai's APIStatusError and many llm plugins' errors carry the status.
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) and 100 <= status <= 599 else None
