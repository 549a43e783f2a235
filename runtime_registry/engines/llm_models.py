"""Which llm model a profile's turn talks to, built with our key, retries and timeouts.

- With ``api_base``: llm's OpenAI-compatible async chat model, built directly
  (``llm.get_async_model`` does not know arbitrary model ids on an
  ``api_base``), with tool support on.
- Without: whatever model id llm or an installed llm plugin knows. llm's own
  OpenAI chat models are rebuilt as the tuned class below, so they get the same
  client settings.

The key is read from the profile's ``key_env`` on every turn and passed
explicitly; llm's user directory is pointed at a private empty directory, so a
key stored with ``llm keys set`` (which wins over the environment in llm) is
never picked up, and neither is the operator's llm configuration.

Client settings (decision 0093): no retries (``max_retries=0``): a retry on
429/5xx costs seconds while the worker is busy and hides the failure; the turn
fails with ``provider_rate_limited``/``provider_error`` and the client decides.
Timeouts: connect 10 s, write 30 s, read 60 s between two chunks of the
stream; the whole turn is bounded by the profile's ``max_turn_seconds``.
"""

from __future__ import annotations

import copy
import logging
import os
import tempfile
from typing import Any

import llm
import openai
from llm.default_plugins.openai_models import AsyncChat

from registry_core.engines import EngineProfile

__all__ = ["HTTP_TIMEOUT", "MAX_RETRIES", "TunedAsyncChat", "build_model", "isolate_llm_user_dir", "turn_key"]

#: Per-phase HTTP timeouts of the model client (the turn as a whole: ``max_turn_seconds``).
HTTP_TIMEOUT = openai.Timeout(connect=10.0, read=60.0, write=30.0, pool=10.0)
#: Retries of the model client: none (see the module docstring).
MAX_RETRIES = 0

# httpx logs every request with its URL at INFO, and the openai client logs
# retries and URLs too: neither may reach the default log (the URL is the
# operator's api_base). Debug logging, when an operator turns it on, still shows them.
for _name in ("httpx", "httpcore", "httpx2", "httpcore2", "openai"):
    if logging.getLogger(_name).level == logging.NOTSET:
        logging.getLogger(_name).setLevel(logging.WARNING)

_private_user_dir: str | None = None


def isolate_llm_user_dir() -> str:
    """Point llm's user directory (keys, aliases, logs) at a private, empty directory; idempotent."""
    global _private_user_dir
    if _private_user_dir is None:
        _private_user_dir = tempfile.mkdtemp(prefix="runtime-registry-llm-")
    os.environ["LLM_USER_PATH"] = _private_user_dir
    return _private_user_dir


class TunedAsyncChat(AsyncChat):
    """llm's OpenAI(-compatible) async chat model, with our key, retries and timeouts.

    It keeps every client it makes, so that the turn can close them: closing
    the client closes the HTTP connection even when a cancel landed somewhere
    other than the stream read.
    """

    needs_key = None  # type: ignore[assignment]  # the key is ours to give, never llm's to look up
    key_env_var = None  # type: ignore[assignment]

    def get_client(self, key: str | None, *, async_: bool = False) -> Any:
        if not async_:
            raise RuntimeError("the llm engine uses async models only")
        client = openai.AsyncOpenAI(
            base_url=self.api_base or None,
            # The openai client insists on a key; a local server without
            # authentication ignores this placeholder.
            api_key=self._turn_key or "no-key",
            max_retries=MAX_RETRIES,
            timeout=HTTP_TIMEOUT,
            default_headers=self.headers or None,
        )
        self._clients.append(client)
        return client

    _turn_key: str | None = None
    _clients: list[Any]


def turn_key(profile: EngineProfile) -> str | None:
    """The key for this turn: the value of the profile's ``key_env`` now, or ``None``."""
    if profile.key_env is None:
        return None
    return os.environ.get(profile.key_env) or None


def resolve_model(profile: EngineProfile) -> Any:
    """The model object llm knows for the profile (no key attached yet).

    :raises llm.UnknownModelError: no such model (without ``api_base``).
    """
    isolate_llm_user_dir()
    if profile.api_base is not None:
        return TunedAsyncChat(profile.model, model_name=profile.model, api_base=profile.api_base, supports_tools=True)  # type: ignore[no-untyped-call]
    model: Any = llm.get_async_model(profile.model)
    if type(model) is AsyncChat:
        tuned = copy.copy(model)
        tuned.__class__ = TunedAsyncChat
        return tuned
    return model


def build_model(profile: EngineProfile, key: str | None) -> Any:
    """A fresh model object for one turn, with the key attached (never shared between turns)."""
    model = resolve_model(profile)
    if isinstance(model, TunedAsyncChat):
        model._turn_key = key
        model._clients = []
    return model
