# src/acme_wordcount/plugin.py
"""The module the ``runtime_registry`` entry point names: it registers the ``wordcount`` kind."""

from registry_core import RuntimeKind, hookimpl

from acme_wordcount.provider import KIND, WordcountProvider
from acme_wordcount.settings import WordcountSettings


@hookimpl
def register_runtime_kinds(register):
    register(
        RuntimeKind(
            name=KIND,  # lowercase letters, digits and '-', starting with a letter
            description="Workers that count the words of every input",
            factory=WordcountProvider,  # called as factory(runtime_id, settings)
            settings_type=WordcountSettings,
        )
    )
