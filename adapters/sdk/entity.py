"""Deterministic entity ids and small builders of NGSI-LD normalized attributes.

Ids are built from source keys only (never from a counter or the run time), so reading
the same row twice names the same entity and a batch *upsert* overwrites instead of
duplicating.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from adapters.sdk.text import nfkc

__all__ = ["entity_id", "geo_point", "prop", "rel", "slug"]

_SAFE = re.compile(r"[^A-Za-z0-9._~-]+")


_PLAIN = re.compile(r"[A-Za-z0-9._~-]+")


def slug(key: object) -> str:
    """One id segment: NFKC, spaces to ``-``, other unsafe characters percent-encoded."""
    s = str(key)
    if _PLAIN.fullmatch(s):  # the common case; plain ASCII is NFKC-invariant
        return s
    s = nfkc(s).strip()
    s = re.sub(r"\s+", "-", s)
    return quote(s, safe="-._~") if _SAFE.search(s) else s


def entity_id(entity_type: str, *keys: object) -> str:
    """``urn:ngsi-ld:<Type>:<key>:<key>...`` from the source's own keys."""
    if not keys:
        raise ValueError("an entity id needs at least one source key")
    return f"urn:ngsi-ld:{entity_type}:" + ":".join(slug(k) for k in keys)


def prop(value: Any, *, unit: str | None = None, observed_at: str | None = None,
         quality: str | None = None, source_flag: Any = None) -> dict[str, Any]:
    """A Property; ``quality`` (normal, provisional, ...) becomes a sub-property."""
    out: dict[str, Any] = {"type": "Property", "value": value}
    if unit:
        out["unitCode"] = unit
    if observed_at:
        out["observedAt"] = observed_at
    if quality is not None:
        q: dict[str, Any] = {"type": "Property", "value": quality}
        if source_flag is not None:
            q["sourceFlag"] = {"type": "Property", "value": str(source_flag)}
        out["quality"] = q
    return out


def rel(obj: str) -> dict[str, Any]:
    return {"type": "Relationship", "object": obj}


def geo_point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]}}
