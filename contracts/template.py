"""Row templates: the entities of one source row that share most of their values.

One source row often fans out into many entities of one contract that differ only in a
few attributes (an MLIT day row: 24 ``WaterObserved`` of one station, one per hour). A
``RowTemplate`` names the attributes that vary; ``RowTemplate.row(**shared)`` validates the
shared values once, and ``TemplateRow.entities(**columns)`` validates the varying values
of all the row's entities at once (one list per attribute, one entry per entity), runs the
model's cross-attribute rules on every entity's complete values and answers the entities
``to_ngsi_ld(model.model_validate(shared | entity's values), include_context=False)``
would, in order.

It is the full model's validation, split by field, not a second one:

* both halves are pydantic models built from the contract's own ``FieldInfo`` objects
  (types, constraints, annotated validators) and its ``model_config``: the shared half has
  the fields that do not vary, the varying half a list of the field's type per varying
  field. Field validation in a contract looks at no other field (``_split`` refuses a
  model with a field or model validator other than ``Contract._cross_rules``, or a custom
  serializer), so the halves accept exactly what the full model's fields accept;
* the cross-attribute rules are the model's own (``Contract._cross_rules``), run per entity
  over the same short name → validated value mapping (every field, defaults included);
  a rule with a check over columns (``contracts.base.column_check``: ``ordered``, the
  quality rule) is asked once for the row's entities instead, and any breach it finds
  sends the row to the full model, entity by entity;
* whenever anything is refused (a shared value, an entity's value, a rule), the row is
  built entity by entity with the full model instead, so the error raised is the full
  model's ``ValidationError`` for the first entity it refuses (the same errors: location,
  message, type; so the same quarantine reason from ``adapters.sdk.build_row``).

Values that are None are left out, as ``adapters.sdk.build`` does (a varying field is
either required or defaults to None, so an entry of None is the field left out). The
entities are new dicts, but an attribute the row shares (its instance dict, and so a
``location``'s GeoJSON) is one object in all of them, and in the entities of every row a
kept ``TemplateRow`` builds: treat the entities as read-only, as the SDK's callers do.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic_core import PydanticUndefined

from contracts.base import ColumnCheck, Contract, Rule, _rules_of, column_check
from contracts.ngsi import _layout, to_ngsi_ld

__all__ = ["RowTemplate", "TemplateRow"]

_VARIES = object()
"""A slot whose value is each entity's own."""

_Slot = tuple[str, dict[str, Any] | None, Any, str, str | None, bool]
"""(attribute, finished shared instance or None, value or _VARIES, kind, unit, measured)."""


@dataclass(frozen=True, slots=True)
class _Split:
    """A contract split by field: the shared half, and the varying half as columns."""

    shared: type[BaseModel]
    columns: type[BaseModel]
    varying: tuple[str, ...]  # in the model's field order
    attributes: tuple[_Slot, ...]  # every one but id and type, in the model's field order:
    # varying ones as slots (value _VARIES), shared ones with fixed None and value None
    observed_at: str  # the attribute whose instant the measured ones carry ("" if none)
    checks: tuple[ColumnCheck, ...]  # the model's rules that check columns at once
    rules: tuple[Rule, ...]  # the others, asked entity by entity


@cache
def _split(model: type[Contract], varying: frozenset[str]) -> _Split:
    decorators = model.__pydantic_decorators__
    validators = [*decorators.field_validators, *decorators.model_validators,
                  *decorators.root_validators, *decorators.validators]
    if validators != ["_cross_rules"] or decorators.field_serializers \
            or decorators.model_serializers:
        raise TypeError(f"{model.__name__}: a row template splits only a model whose one "
                        "validator is Contract._cross_rules and whose serializers are pydantic's")
    fields = model.model_fields
    unknown = varying - fields.keys()
    if unknown:
        raise ValueError(f"{model.__name__} has no attributes {sorted(unknown)}")
    for name in varying:
        if not fields[name].is_required() and fields[name].default is not None:
            raise ValueError(f"{model.__name__}.{name}: a varying attribute is required or "
                             "defaults to None")
    config = ConfigDict(**model.model_config)

    def column(name: str) -> Any:
        item = copy.copy(fields[name])  # its type, constraints and validators; no default
        item.default = PydanticUndefined
        return list[Annotated[(fields[name].annotation, item)]]  # type: ignore[misc]

    shared_fields: dict[str, Any] = {n: (f.annotation, f) for n, f in fields.items()
                                     if n not in varying}
    names = tuple(n for n in fields if n in varying)
    column_fields: dict[str, Any] = {n: (column(n), ...) for n in names}
    shared = create_model(f"{model.__name__}Shared", __config__=config, **shared_fields)
    columns = create_model(f"{model.__name__}Columns", __config__=config, **column_fields)
    layout = _layout(model)
    attributes = tuple((n, None, _VARIES if n in varying else None, *layout.kinds[n],
                        n in layout.measured) for n in fields if n not in ("id", "type"))
    rules = _rules_of(model)
    checks = tuple(c for c in map(column_check, rules) if c is not None)
    return _Split(shared, columns, names, attributes, layout.observed_at or "", checks,
                  tuple(r for r in rules if column_check(r) is None))


class RowTemplate:
    """Entities of ``model`` whose attributes ``varying`` differ from entity to entity."""

    def __init__(self, model: type[Contract], varying: Iterable[str]) -> None:
        self.model = model
        self.varying = frozenset(varying)
        self._split = _split(model, self.varying)

    def row(self, **shared: Any) -> TemplateRow:
        """The row's shared values (validated here, once); None values are left out."""
        clash = self.varying.intersection(shared)
        if clash:
            raise ValueError(f"shared values for varying attributes: {sorted(clash)}")
        return TemplateRow(self, {k: v for k, v in shared.items() if v is not None})


class TemplateRow:
    """One row's shared values, validated; ``entities`` builds the row's entities."""

    def __init__(self, template: RowTemplate, shared: dict[str, Any]) -> None:
        self.model = template.model
        self.shared = shared
        self._split = split = template._split
        try:
            instance = split.shared.__pydantic_validator__.validate_python(shared)
        except ValidationError:
            self._valid: dict[str, Any] | None = None  # every entity goes to the full model
            return
        self._valid = instance.__dict__
        data = instance.__pydantic_serializer__.to_python(instance, mode="json",
                                                          exclude_none=True)
        self._id_type = (data.get("id"), data.get("type"))
        self._observed_at_name = split.observed_at
        self._observed_at, self._slots = _slots(split, data)

    def entities(self, **columns: Sequence[Any]) -> list[dict[str, Any]]:
        """One entity per entry of the columns (varying attribute -> values, all of one
        length; an attribute not given is None throughout), in order.

        Raises the full model's ``ValidationError`` for the first entity it refuses.
        """
        split = self._split
        unknown = columns.keys() - set(split.varying)
        if unknown:
            raise ValueError(f"not varying attributes of this template: {sorted(unknown)}")
        count = len(next(iter(columns.values()))) if columns else 0
        full = dict(columns)  # the caller's order (for _one_by_one)
        if len(full) < len(split.varying):
            full.update((n, [None] * count) for n in split.varying if n not in full)
        if len({len(c) for c in full.values()}) > 1:
            raise ValueError("columns of different lengths")
        if self._valid is None:
            return self._one_by_one(full, count)
        try:
            valid = split.columns.__pydantic_validator__.validate_python(full)
        except ValidationError:
            return self._one_by_one(full, count)
        for check in split.checks:
            if check(self._valid, valid.__dict__, count):
                return self._one_by_one(full, count)
        rules = split.rules
        if rules:
            names = split.varying
            merged = dict(self._valid)  # the shared values, then each entity's own
            for values in zip(*valid.__dict__.values(), strict=False):  # columns of one length
                merged.update(zip(names, values, strict=False))
                for rule in rules:
                    for _ in rule(merged):
                        return self._one_by_one(full, count)
        data = valid.__pydantic_serializer__.to_python(valid, mode="json", exclude_none=True)
        return self._assemble(data, count)

    def _one_by_one(self, columns: dict[str, Sequence[Any]], count: int) -> list[dict[str, Any]]:
        model, shared = self.model, self.shared
        out = []
        for i in range(count):
            values = {**shared}
            values.update((n, c[i]) for n, c in columns.items() if c[i] is not None)
            out.append(to_ngsi_ld(model.model_validate(values), include_context=False))
        return out

    def _assemble(self, columns: dict[str, list[Any]], count: int) -> list[dict[str, Any]]:
        """``to_ngsi_ld``'s layout, attribute by attribute across the row's entities (the
        JSON form of the varying values in ``columns``, of the shared ones in the slots)."""
        id_, type_ = self._id_type
        ids = columns["id"] if id_ is None else [id_] * count
        types = columns["type"] if type_ is None else [type_] * count
        entities = [{"id": i, "type": t} for i, t in zip(ids, types, strict=False)]
        at = self._observed_at
        ats = columns[self._observed_at_name] if at is _VARIES else [at] * count
        for name, fixed, value, kind, unit, measured in self._slots:
            if fixed is not None:  # one read-only dict for the row's entities
                for entity in entities:
                    entity[name] = fixed
                continue
            column = columns[name] if value is _VARIES else [value] * count
            if kind == "Relationship":
                for entity, v in zip(entities, column, strict=False):
                    if v is not None:
                        entity[name] = {"type": "Relationship", "object": v}
                continue
            if unit is None and not measured:  # the common plain Property
                for entity, v in zip(entities, column, strict=False):
                    if v is not None:
                        entity[name] = {"type": kind, "value": v}
                continue
            if unit is not None and measured:  # a measurement: its unit and its instant
                for entity, v, when in zip(entities, column, ats, strict=False):
                    if v is None:
                        continue
                    if when is None:
                        entity[name] = {"type": kind, "value": v, "unitCode": unit}
                    else:
                        entity[name] = {"type": kind, "value": v, "unitCode": unit,
                                        "observedAt": when}
                continue
            for entity, v, when in zip(entities, column, ats, strict=False):
                if v is None:
                    continue
                instance: dict[str, Any] = {"type": kind, "value": v}
                if unit is not None:
                    instance["unitCode"] = unit
                if measured and when is not None:
                    instance["observedAt"] = when
                entity[name] = instance
        return entities


def _slots(split: _Split, shared: dict[str, Any]) -> tuple[Any, tuple[_Slot, ...]]:
    """The instant of the measured attributes (or _VARIES) and the attributes in order,
    the shared ones finished (``to_ngsi_ld``'s layout)."""
    at = split.observed_at
    observed_at = _VARIES if at in split.varying else shared.get(at) if at else None
    slots: list[_Slot] = []
    for slot in split.attributes:
        name, _, varies, kind, unit, measured = slot
        if varies is _VARIES:
            slots.append(slot)
            continue
        value = shared.get(name)
        if value is None:
            continue
        if measured and observed_at is _VARIES:  # a shared value, each entity's instant
            slots.append((name, None, value, kind, unit, measured))
            continue
        if kind == "Relationship":
            fixed = {"type": "Relationship", "object": value}
        else:
            fixed = {"type": kind, "value": value}
            if unit is not None:
                fixed["unitCode"] = unit
            if measured and observed_at is not None:
                fixed["observedAt"] = observed_at
        slots.append((name, fixed, None, kind, unit, measured))
    return observed_at, tuple(slots)
