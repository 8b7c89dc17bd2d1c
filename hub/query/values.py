"""The scalar values the ``entity_values`` index holds for one entity.

The store writes exactly these rows and the ``q`` compiler relies on them as a necessary
condition, so both import this one definition.
"""

from __future__ import annotations

from typing import Any

__all__ = ["compared_values", "index_rows"]

_MEMBER = {
    "Property": "value", "GeoProperty": None, "Relationship": "object",
    "LanguageProperty": "languageMap", "VocabProperty": "vocab", "JsonProperty": None,
    "ListProperty": "valueList", "ListRelationship": "objectList",
}


def compared_values(inst: dict[str, Any]) -> list[Any]:
    """The values ``q`` compares for one attribute instance (4.9: arrays match per element)."""
    member = _MEMBER.get(inst.get("type", "Property"))
    if member is None:
        return []
    value = inst.get(member)
    if member == "languageMap" and isinstance(value, dict):
        out: list[Any] = []
        for v in value.values():
            out.extend(v if isinstance(v, list) else [v])
        return out
    if member == "objectList" and isinstance(value, list):
        return [i.get("object") for i in value if isinstance(i, dict)]
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and "@value" in value:
        return [value["@value"]]
    return [value]


def index_rows(attrs: dict[str, Any]) -> list[tuple[str, float | None, str | None]]:
    rows: list[tuple[str, float | None, str | None]] = []
    for iri, instances in attrs.items():
        for inst in instances:
            for v in compared_values(inst):
                if isinstance(v, bool):
                    continue
                if isinstance(v, (int, float)):
                    rows.append((iri, float(v), None))
                elif isinstance(v, str) and len(v) <= 256:
                    rows.append((iri, None, v))
    return rows
