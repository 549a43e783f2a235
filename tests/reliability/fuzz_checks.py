"""What the fuzz runs check beyond schemathesis' defaults, and the one default they refine.

Schemathesis' ``positive_data_acceptance`` expects every schema-valid request
to succeed. Some refusals of schema-valid requests are the contract itself,
because the limit they enforce belongs to one runtime or one server run and
cannot be written into a static schema:

- ``400 limit_too_large`` — each runtime has its own page maxima;
- ``410 cursor_expired`` — an event cursor beyond (or before) what is retained;
- ``400 malformed_request`` naming ``cursor`` — an opaque cursor the server
  did not issue (any string is schema-valid);
- ``422 invalid_request`` naming only ``content`` (the runtime's
  ``max_input_chars``) or ``capabilities[...]`` (what the runtime can grant);
- ``422 unknown_profile`` — the profiles a runtime has are its configuration
  (decision 0210), and any string is a schema-valid selector.

Every other refusal of valid data is a failure, exactly as upstream.
"""

from __future__ import annotations

from schemathesis.specs.openapi.checks import positive_data_acceptance

__all__ = ["REFINED_CHECKS", "valid_data_is_accepted_unless_a_runtime_limit_refuses_it"]


def _runtime_limit_refusal(status: int, error: dict) -> bool:
    code = error.get("code")
    paths = [detail.get("path", "") for detail in error.get("details") or []]
    if (status, code) in {(400, "limit_too_large"), (410, "cursor_expired"), (422, "unknown_profile")}:
        return True
    if (status, code) == (400, "malformed_request"):
        return paths == ["cursor"]
    if (status, code) == (422, "invalid_request"):
        return bool(paths) and all(path == "content" or path.startswith("capabilities[") for path in paths)
    return False


def valid_data_is_accepted_unless_a_runtime_limit_refuses_it(ctx, response, case):
    """``positive_data_acceptance``, except for the refusals the module docstring lists."""
    if case.meta is None or not case.meta.generation.mode.is_positive or response.status_code < 400:
        return None
    try:
        error = response.json().get("error") or {}
    except Exception:
        error = {}
    if _runtime_limit_refusal(response.status_code, error):
        return None
    return positive_data_acceptance(ctx, response, case)


#: Keyword arguments for ``case.call_and_validate`` / ``validate_response``.
REFINED_CHECKS = {
    "excluded_checks": [positive_data_acceptance],
    "additional_checks": [valid_data_is_accepted_unless_a_runtime_limit_refuses_it],
}
