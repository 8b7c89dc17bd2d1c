"""Merging what the hub and its context sources hold about one entity (GS CIM 009 4.3.6).

Entities here are in the hub's stored form (``id``, ``types``, ``scopes``, ``attrs``: IRI
to instance list). Rules:

* **inclusive** sources add: types are united, and per attribute the instances are keyed
  by ``datasetId`` (None: the default instance); where both hold one, the most recent wins
  — ``observedAt``, else ``modifiedAt``; without either the one already held stays.
* **exclusive / redirect** registrations own the attributes they name: the hub's
  instances of those attributes are dropped for that entity and the source's taken.
* **auxiliary** answers fill in only entities nobody else returned.
"""

from __future__ import annotations

from typing import Any

__all__ = ["fill_missing", "from_full_iri", "merge_into", "stamp_of"]

Entity = dict[str, Any]
_CORE = frozenset({"id", "type", "scope", "@context", "createdAt", "modifiedAt"})


def from_full_iri(ent: dict[str, Any]) -> Entity:
    """A ``Source`` answer entity (normalized, full IRIs) in stored form."""
    types = ent.get("type") or []
    scopes = ent.get("scope")
    attrs: dict[str, list[dict[str, Any]]] = {}
    for key, value in ent.items():
        if key in _CORE:
            continue
        items = value if isinstance(value, list) else [value]
        attrs[key] = [dict(i) for i in items if isinstance(i, dict)]
    return {"id": ent["id"], "types": list(types if isinstance(types, list) else [types]),
            "scopes": (scopes if isinstance(scopes, list) else [scopes]) if scopes else None,
            "attrs": attrs, "createdAt": ent.get("createdAt"),
            "modifiedAt": ent.get("modifiedAt")}


def stamp_of(inst: dict[str, Any]) -> str:
    """When an instance was true: observedAt, else modifiedAt ('' when neither)."""
    for key in ("observedAt", "modifiedAt"):
        v = inst.get(key)
        if isinstance(v, str):
            return v
    return ""


def _merge_instances(held: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[Any]:
    by_ds: dict[Any, dict[str, Any]] = {i.get("datasetId"): i for i in held}
    for inst in new:
        ds = inst.get("datasetId")
        old = by_ds.get(ds)
        if old is None or stamp_of(inst) > stamp_of(old):
            by_ds[ds] = inst
    return list(by_ds.values())


def merge_into(held: Entity, new: Entity, *, owned: frozenset[str] | None = None,
               exclusive: bool = False) -> None:
    """Merge ``new`` (one source's view) into ``held``. With ``exclusive``, the source owns
    ``owned`` (None: every attribute it sent) and replaces the held instances of those."""
    held["types"] = list(dict.fromkeys([*held.get("types", []), *new.get("types", [])]))
    if new.get("scopes") and not held.get("scopes"):
        held["scopes"] = new["scopes"]
    attrs = held.setdefault("attrs", {})
    if exclusive:
        for iri in (owned if owned is not None else new["attrs"].keys()):
            attrs.pop(iri, None)
    for iri, instances in new["attrs"].items():
        if exclusive and owned is not None and iri not in owned:
            continue
        attrs[iri] = _merge_instances(attrs.get(iri, []), instances)


def fill_missing(held: Entity, new: Entity) -> None:
    """An auxiliary source's view: it only adds the attributes nobody else gave."""
    attrs = held.setdefault("attrs", {})
    for iri, instances in new["attrs"].items():
        if iri not in attrs:
            attrs[iri] = instances
