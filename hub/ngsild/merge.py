"""How a write combines with what is stored: append, update, merge, replace, delete.

Pure functions over the stored ``attrs`` dict (docs/architecture.md), used by single and
batch operations alike so both follow the same rules (GS CIM 009 5.6.2-5.6.4, 5.6.17-5.6.19).
"""

from __future__ import annotations

from typing import Any

from hub.ngsild.attributes import DELETE, is_deletion

__all__ = [
    "append_attrs",
    "delete_attr",
    "merge_attrs",
    "merge_instance",
    "update_attrs",
]

Attrs = dict[str, list[dict[str, Any]]]
NotUpdated = list[tuple[str, str]]


def _find(instances: list[dict[str, Any]], dataset_id: str | None) -> int:
    for i, inst in enumerate(instances):
        if inst.get("datasetId") == dataset_id:
            return i
    return -1


def _put(instances: list[dict[str, Any]], new: dict[str, Any]) -> None:
    """Replace the instance with the same datasetId (keeping its createdAt) or add it."""
    i = _find(instances, new.get("datasetId"))
    if i < 0:
        if "createdAt" not in new and "modifiedAt" in new:  # a fragment that creates
            new["createdAt"] = new["modifiedAt"]
        instances.append(new)
    else:
        new["createdAt"] = instances[i].get("createdAt", new.get("createdAt"))
        instances[i] = new


def append_attrs(stored: Attrs, new: Attrs, *, no_overwrite: bool) -> tuple[list[str], NotUpdated]:
    updated: list[str] = []
    skipped: NotUpdated = []
    for iri, instances in new.items():
        current = stored.setdefault(iri, [])
        changed = False
        for inst in instances:
            if no_overwrite and _find(current, inst.get("datasetId")) >= 0:
                skipped.append((iri, "attribute exists and noOverwrite was requested"))
                continue
            _put(current, inst)
            changed = True
        if not current:
            del stored[iri]
        if changed:
            updated.append(iri)
    return updated, skipped


def update_attrs(stored: Attrs, new: Attrs) -> tuple[list[str], NotUpdated]:
    """Update Entity Attributes (5.6.2), as the ETSI conformance suite reads the clause
    (011_01_03 and eleven subscription tests): a given attribute or datasetId instance that
    does not exist yet is appended; NGSI-LD Null for one that does not exist is not updated.
    Only the entity's scope is never added by an update (011_05_02)."""
    updated: list[str] = []
    skipped: NotUpdated = []
    for iri, instances in new.items():
        current = stored.setdefault(iri, [])
        changed = False
        for inst in instances:
            i = _find(current, inst.get("datasetId"))
            if is_deletion(inst):
                if i < 0:
                    skipped.append((iri, "no instance with this datasetId"))
                    continue
                del current[i]
            else:
                _put(current, inst)
            changed = True
        if not current:
            del stored[iri]
        if changed:
            updated.append(iri)
    return updated, skipped


def merge_instance(old: dict[str, Any], patch: dict[str, Any], now: str) -> dict[str, Any]:
    """Merge-patch one instance: given members replace, ``DELETE`` removes, the rest stays."""
    merged = dict(old)
    if patch.get("type") and patch["type"] != old.get("type"):
        # a changed attribute type drops the old value member
        for member in ("value", "object", "languageMap", "vocab", "json", "valueList",
                       "objectList"):
            merged.pop(member, None)
    for key, val in patch.items():
        if key in ("createdAt", "modifiedAt"):
            continue
        if val is DELETE:
            merged.pop(key, None)
        elif isinstance(val, dict) and ":" in key and isinstance(old.get(key), dict):
            merged[key] = merge_instance(old[key], val, now)
        else:
            merged[key] = val
    merged["modifiedAt"] = now
    return merged


def merge_attrs(stored: Attrs, patch: dict[str, Any], now: str) -> list[str]:
    """Merge an entity fragment into ``stored`` (5.6.17); returns the attributes touched."""
    touched: list[str] = []
    for iri, instances in patch.items():
        touched.append(iri)
        if instances is DELETE:
            stored.pop(iri, None)
            continue
        current = stored.setdefault(iri, [])
        for inst in instances:
            i = _find(current, inst.get("datasetId"))
            if is_deletion(inst):
                if i >= 0:
                    del current[i]
            elif i < 0:
                current.append(_strip_deletes(inst))
            else:
                current[i] = merge_instance(current[i], inst, now)
        if not current:
            del stored[iri]
    return touched


def _strip_deletes(inst: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (_strip_deletes(v) if isinstance(v, dict) and ":" in k else v)
        for k, v in inst.items()
        if v is not DELETE
    }


def delete_attr(
    stored: Attrs, iri: str, dataset_id: str | None, *, delete_all: bool
) -> bool:
    """Delete one instance (default or ``dataset_id``) or all; False when nothing matched."""
    current = stored.get(iri)
    if not current:
        return False
    if delete_all:
        del stored[iri]
        return True
    i = _find(current, dataset_id)
    if i < 0:
        return False
    del current[i]
    if not current:
        del stored[iri]
    return True
