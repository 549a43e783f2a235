"""Operating the server: metrics, readiness, the access log, log formats, the runtime watcher.

- :mod:`.metrics` — the Prometheus metric families and ``GET /metrics``;
- :mod:`.http` — the middleware that times every request: metrics and the access line;
- :mod:`.watch` — a task per runtime that follows its event feed (turn metrics) and its status (log lines);
- :mod:`.readiness` — ``GET /readyz``;
- :mod:`.logs` — the text and JSON log formats, both through the credential redaction.
"""
