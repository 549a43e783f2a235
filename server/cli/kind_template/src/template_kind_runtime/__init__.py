"""A runtime-registry plugin providing the ``template-kind`` runtime kind."""

from template_kind_runtime.provider import TemplateKindProvider
from template_kind_runtime.settings import TemplateKindSettings

__all__ = ["TemplateKindProvider", "TemplateKindSettings"]
