"""``to_ngsi_ld``: a contract model as a normalized NGSI-LD entity (GS CIM 009 4.5).

Attributes become Property / Relationship / GeoProperty as the contract declares, with the
contract's UN/CEFACT ``unitCode``; the measured attributes of an observation carry
``observedAt`` (the observation's instant, or the end of its period). Names are the
contracts' @context terms, so the entity must travel with ``CONTEXT_URL``: inline as
``@context`` (``application/ld+json``, the default here) or in a ``Link`` header
(``LINK_HEADER``, with ``include_context=False``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Final

from contracts.base import Contract, Observation
from contracts.vocab import CONTEXT_URL

__all__ = ["LINK_HEADER", "to_ngsi_ld"]

LINK_HEADER: Final = (
    f'<{CONTEXT_URL}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
)
"""The ``Link`` header value naming the contracts' @context (for ``application/json``)."""


@dataclass(frozen=True, slots=True)
class _Layout:
    """What ``to_ngsi_ld`` needs of a contract class, read once from its fields."""

    kinds: dict[str, tuple[str, str | None]]  # attribute -> (NGSI-LD kind, unit code)
    measured: frozenset[str]
    observed_at: str | None


@cache
def _layout(cls: type[Contract]) -> _Layout:
    kinds: dict[str, tuple[str, str | None]] = {}
    for name, field in cls.model_fields.items():
        extra = field.json_schema_extra
        meta = extra.get("x-ngsi-ld") if isinstance(extra, dict) else None
        meta = meta if isinstance(meta, dict) else {}
        unit = meta.get("unitCode")
        kinds[name] = (str(meta.get("type", "Property")), unit if isinstance(unit, str) else None)
    if issubclass(cls, Observation):
        return _Layout(kinds, frozenset(cls.measured), cls.observed_at)
    return _Layout(kinds, frozenset(), None)


def to_ngsi_ld(model: Contract, *, include_context: bool = True) -> dict[str, Any]:
    """The normalized NGSI-LD entity of ``model``; attributes that are None are left out."""
    layout = _layout(type(model))
    # model_dump's own serializer, without the Python wrapper (this runs once per entity)
    data = model.__pydantic_serializer__.to_python(model, mode="json", exclude_none=True)
    entity: dict[str, Any] = {"id": data.pop("id"), "type": data.pop("type")}
    observed_at = data.get(layout.observed_at) if layout.observed_at else None
    for name, value in data.items():
        kind, unit = layout.kinds[name]
        if kind == "Relationship":
            entity[name] = {"type": "Relationship", "object": value}
            continue
        instance: dict[str, Any] = {"type": kind, "value": value}
        if unit is not None:
            instance["unitCode"] = unit
        if observed_at is not None and name in layout.measured:
            instance["observedAt"] = observed_at
        entity[name] = instance
    if include_context:
        entity["@context"] = [CONTEXT_URL]
    return entity
