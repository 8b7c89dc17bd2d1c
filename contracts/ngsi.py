"""``to_ngsi_ld``: a contract model as a normalized NGSI-LD entity (GS CIM 009 4.5).

Attributes become Property / Relationship / GeoProperty as the contract declares, with the
contract's UN/CEFACT ``unitCode``; the measured attributes of an observation carry
``observedAt`` (the observation's instant, or the end of its period). Names are the
contracts' @context terms, so the entity must travel with ``CONTEXT_URL``: inline as
``@context`` (``application/ld+json``, the default here) or in a ``Link`` header
(``LINK_HEADER``, with ``include_context=False``).
"""

from __future__ import annotations

from typing import Any, Final

from contracts.base import Contract, Observation
from contracts.vocab import CONTEXT_URL

__all__ = ["LINK_HEADER", "to_ngsi_ld"]

LINK_HEADER: Final = (
    f'<{CONTEXT_URL}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
)
"""The ``Link`` header value naming the contracts' @context (for ``application/json``)."""


def _meta(model: type[Contract], name: str) -> dict[str, Any]:
    extra = model.model_fields[name].json_schema_extra
    meta = extra.get("x-ngsi-ld") if isinstance(extra, dict) else None
    return meta if isinstance(meta, dict) else {"type": "Property"}


def to_ngsi_ld(model: Contract, *, include_context: bool = True) -> dict[str, Any]:
    """The normalized NGSI-LD entity of ``model``; attributes that are None are left out."""
    cls = type(model)
    data = model.model_dump(mode="json", exclude_none=True)
    entity: dict[str, Any] = {"id": data.pop("id"), "type": data.pop("type")}
    observed_at: str | None = None
    measured: tuple[str, ...] = ()
    if isinstance(model, Observation):
        observed_at = data.get(cls.observed_at)  # type: ignore[attr-defined]
        measured = cls.measured  # type: ignore[attr-defined]
    for name, value in data.items():
        meta = _meta(cls, name)
        kind = meta["type"]
        if kind == "Relationship":
            entity[name] = {"type": "Relationship", "object": value}
            continue
        instance: dict[str, Any] = {"type": kind, "value": value}
        if "unitCode" in meta:
            instance["unitCode"] = meta["unitCode"]
        if observed_at is not None and name in measured:
            instance["observedAt"] = observed_at
        entity[name] = instance
    if include_context:
        entity["@context"] = [CONTEXT_URL]
    return entity
