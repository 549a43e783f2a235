"""JSON Schemas of the OpenAPI document, derived from the attrs models and their annotated constraints.

The models of :mod:`registry_core.models` are the definition of what crosses
the wire; this module reads them (field types, defaults, ``Annotated``
metadata) and writes the matching JSON Schema, so no shape or rule is written
twice (docs/decisions/0073). A model is described in one of two directions:

- **request** (a body the server structures): ``required`` lists the fields
  without a default, unknown fields are refused (``additionalProperties:
  false``, as the converter's ``forbid_extra_keys``), and every constraint of
  the field's type is shown (``minLength``, ``maxLength``, ``pattern``,
  ``minimum``...), so a body valid here is structured without a 422;
- **response** (what the converter renders): every field is present (the
  converter writes ``null`` for an absent optional), and constraints are left
  out — they bind what clients send, not what a runtime may hold (a
  local-compat role read from disk may be longer than a create accepts).

A model used in both directions gets two components: ``Intent`` (request) and
``IntentOut`` (response).
"""

from __future__ import annotations

import enum
import functools
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
import attrs

from registry_core.constraints import Pattern

__all__ = ["SchemaSet", "ref", "nullable", "TIMESTAMP"]

#: How every timestamp is rendered (registry_core.converter.format_timestamp).
TIMESTAMP: dict[str, Any] = {
    "type": "string",
    "format": "date-time",
    "description": "ISO 8601, UTC, millisecond precision",
}
_SCALARS: dict[type, dict[str, Any]] = {
    str: {"type": "string"},
    bool: {"type": "boolean"},
    int: {"type": "integer"},
    float: {"type": "number"},
}


def ref(name: str) -> dict[str, str]:
    """A reference to the component schema ``name``."""
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` or ``null``: a type list where the schema has one type, ``anyOf`` around a reference."""
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    return {**schema, "type": [schema["type"], "null"]}


class SchemaSet:
    """The component schemas of some models, collected as they are referenced.

    :param request_models: the models structured from request bodies; they and
        every model they hold are described in the request direction when
        referenced with ``request=True``, and named ``<Name>Out`` when a
        response holds them too.
    """

    def __init__(self, request_models: Iterable[type]) -> None:
        self.components: dict[str, dict[str, Any]] = {}
        self._request_closure = frozenset(_models_within(request_models))

    def reference(self, model: type, *, request: bool = False) -> dict[str, str]:
        """A ``$ref`` to ``model``'s schema in that direction, adding the component on first use."""
        name = self._name(model, request=request)
        if name not in self.components:
            self.components[name] = {}  # reserved first: a model may refer to itself
            self.components[name] = self._object(model, request=request)
        return ref(name)

    def add(self, name: str, schema: dict[str, Any]) -> dict[str, str]:
        """A component written out as data (the error envelope); returns its ``$ref``."""
        self.components[name] = schema
        return ref(name)

    def _name(self, model: type, *, request: bool) -> str:
        if not request and model in self._request_closure:
            return model.__name__ + "Out"
        return model.__name__

    def _object(self, model: type, *, request: bool) -> dict[str, Any]:
        hints = _hints(model)
        fields = attrs.fields(model)
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {f.name: self._field(f, hints[f.name], request=request) for f in fields},
            "required": [f.name for f in fields if not request or f.default is attrs.NOTHING],
        }
        if request:
            schema["additionalProperties"] = False
        return schema

    def _field(self, field: attrs.Attribute[Any], hint: Any, *, request: bool) -> dict[str, Any]:
        schema = self.schema_of(hint, request=request)
        # attrs.NOTHING (no default) is an enum member too.
        if request and field.default is not attrs.NOTHING and isinstance(field.default, enum.Enum):
            schema = {**schema, "default": field.default.value}
        return schema

    def schema_of(self, hint: Any, *, request: bool = False) -> dict[str, Any]:
        """The JSON Schema of a type hint as the converter reads (request) or writes (response) it."""
        origin, args = get_origin(hint), get_args(hint)
        if origin is typing.Annotated:
            base, *metadata = args
            schema = dict(self.schema_of(base, request=request))
            for item in metadata:
                schema.update(_keywords(item, schema, request=request))
            return schema
        if origin in (Union, types.UnionType):
            present = [a for a in args if a is not type(None)]
            if len(present) != 1:
                raise TypeError(f"no JSON Schema for the union {hint!r}")
            inner = self.schema_of(present[0], request=request)
            return nullable(inner) if len(present) < len(args) else inner
        if origin is Literal:
            return {"type": "string", "const": args[0]} if len(args) == 1 else {"type": "string", "enum": list(args)}
        if origin in (tuple, list, Sequence):
            return {"type": "array", "items": self.schema_of(args[0], request=request)}
        if origin in (dict, Mapping) or hint in (dict, Mapping):
            return {"type": "object"}
        if hint in _SCALARS:
            return dict(_SCALARS[hint])
        if hint is datetime:
            return dict(TIMESTAMP)
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            return {"type": "string", "enum": [member.value for member in hint]}
        if isinstance(hint, type) and attrs.has(hint):
            return self.reference(hint, request=request and hint in self._request_closure)
        raise TypeError(f"no JSON Schema for {hint!r}")


def _keywords(metadata: Any, schema: Mapping[str, Any], *, request: bool) -> dict[str, Any]:
    """The JSON Schema keywords of one piece of ``Annotated`` metadata (constraints: requests only)."""
    if isinstance(metadata, annotated_types.DocInfo):
        return {"description": metadata.documentation}
    if not request:
        return {}
    if isinstance(metadata, annotated_types.GroupedMetadata):
        keywords: dict[str, Any] = {}
        for single in metadata:
            keywords.update(_keywords(single, schema, request=request))
        return keywords
    text = schema.get("type") == "string"
    if isinstance(metadata, annotated_types.MinLen):
        return {("minLength" if text else "minItems"): metadata.min_length}
    if isinstance(metadata, annotated_types.MaxLen):
        return {("maxLength" if text else "maxItems"): metadata.max_length}
    if isinstance(metadata, Pattern):
        if "pattern" in schema:
            # JSON Schema has one "pattern" per schema: further ones must all hold too.
            return {"allOf": [*schema.get("allOf", ()), {"pattern": metadata.regex}]}
        return {"pattern": metadata.regex}
    bounds = (
        (annotated_types.Ge, "ge", "minimum"),
        (annotated_types.Gt, "gt", "exclusiveMinimum"),
        (annotated_types.Le, "le", "maximum"),
        (annotated_types.Lt, "lt", "exclusiveMaximum"),
    )
    for kind, attribute, keyword in bounds:
        if isinstance(metadata, kind):
            return {keyword: getattr(metadata, attribute)}
    raise TypeError(f"no JSON Schema keyword for the constraint {metadata!r}")


@functools.cache
def _hints(model: type) -> dict[str, Any]:
    return typing.get_type_hints(model, include_extras=True)


def _models_within(models: Iterable[type]) -> set[type]:
    """The attrs classes in ``models`` and, recursively, in their fields' types."""
    found: set[type] = set()
    pending = list(models)
    while pending:
        model = pending.pop()
        if model in found:
            continue
        found.add(model)
        for hint in _hints(model).values():
            pending.extend(_attrs_classes_in(hint))
    return found


def _attrs_classes_in(hint: Any) -> list[type]:
    if isinstance(hint, type) and attrs.has(hint):
        return [hint]
    return [model for arg in get_args(hint) for model in _attrs_classes_in(arg)]
