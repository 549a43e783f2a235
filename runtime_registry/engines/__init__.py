"""Turn engines and worker tools that ship with runtime-registry.

- :mod:`.llm_engine` — the ``llm`` engine (Simon Willison's ``llm`` library),
  registered cheaply: ``llm`` and ``openai`` are imported only when a profile
  uses the engine (decision 0092);
- :mod:`.clock` — the harmless builtin tool ``clock``.

The ``record`` and ``echo`` engines live with the embedded runtime
(``runtime_registry.runtimes.embedded.builtin_engines``).
"""
