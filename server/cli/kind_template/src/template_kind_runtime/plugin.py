"""The module the ``runtime_registry`` entry point names: it registers the ``template-kind`` kind."""

from collections.abc import Callable

from registry_core import RuntimeKind, hookimpl

from template_kind_runtime.provider import KIND, TemplateKindProvider
from template_kind_runtime.settings import TemplateKindSettings


@hookimpl
def register_runtime_kinds(register: Callable[[RuntimeKind], None]) -> None:
    """Register the ``template-kind`` runtime kind."""
    register(
        RuntimeKind(
            name=KIND,
            description="Workers that answer each input",
            factory=TemplateKindProvider,
            settings_type=TemplateKindSettings,
        )
    )
