"""runtime-registry: a plugin-based registry of runtimes for long-lived agent workers.

The installed import names all belong to this project (docs/decisions/0070):

- :mod:`registry_core` — the plugin API: what a runtime kind's author imports;
- :mod:`runtime_registry.host` — the host machinery: the registry, plugin
  loading, configuration and assembly (a plugin never imports it);
- :mod:`runtime_registry.runtimes` — the runtimes (``embedded``, ``local_compat``);
- :mod:`runtime_registry.plugins` — the built-in runtime kinds as pluggy plugins;
- :mod:`runtime_registry.server` — the Starlette app and the ``runtime-registry`` CLI;
- :mod:`runtime_registry.testing` — the conformance suite and test helpers for plugin authors.
"""

__version__ = "0.3.0"
