"""The host machinery of runtime-registry: what runs plugins, never what a plugin imports.

- :class:`RuntimeRegistry` — routes calls to providers by ``runtime_id``, guarded;
- :func:`discover_plugins`, :func:`load_plugins` — entry-point discovery and pluggy loading
  (:func:`make_plugin_manager` for a manager to watch the hook calls of);
- :func:`load_config`, :func:`parse_config` — the TOML configuration;
- :func:`assemble` — configuration + plugins → a registry ready to start.

The layer rule (docs/architecture.md): ``server`` → ``host`` → ``registry_core``
← ``runtimes``/``plugins``. Nothing here imports starlette or uvicorn.
"""

from runtime_registry.host.assembly import Assembly, assemble
from runtime_registry.host.config import (
    ConfigError,
    ConfigProblem,
    PluginSettings,
    RegistryConfig,
    RuntimeConfig,
    ServerSettings,
    apply_environment,
    load_config,
    parse_config,
)
from runtime_registry.host.plugin_loading import (
    DiscoveredPlugin,
    PluginSet,
    discover_plugins,
    load_plugins,
    make_plugin_manager,
)
from runtime_registry.host.registry import RuntimeRegistry

__all__ = [
    "Assembly",
    "ConfigError",
    "ConfigProblem",
    "DiscoveredPlugin",
    "PluginSet",
    "PluginSettings",
    "RegistryConfig",
    "RuntimeConfig",
    "RuntimeRegistry",
    "ServerSettings",
    "apply_environment",
    "assemble",
    "discover_plugins",
    "load_config",
    "load_plugins",
    "make_plugin_manager",
    "parse_config",
]
