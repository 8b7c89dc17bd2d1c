"""Query parameters shared by retrieve, query and batch query (GS CIM 009 6.3.6-6.3.18)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub.errors import BadRequestData, InvalidRequest, TooManyResults
from hub.jsonld.active import ActiveContext
from hub.ngsild.render import RenderOptions

__all__ = [
    "ListParams",
    "RenderParams",
    "csv",
    "parse_pagination",
    "parse_render",
]

_FORMATS = {
    "normalized": "normalized",
    "concise": "concise",
    "keyValues": "keyValues",
    "simplified": "keyValues",
}
_OPTIONS = {"keyValues", "simplified", "concise", "normalized", "sysAttrs", "count",
            "noOverwrite", "replace", "update", "unitCode"}
_CORE_MEMBERS = {"id", "type", "scope", "createdAt", "modifiedAt"}


def csv(value: str | None) -> list[str]:
    if value is None:
        return []
    return [v.strip() for v in value.split(",") if v.strip()]


@dataclass(slots=True)
class RenderParams:
    render: RenderOptions
    attrs_filter: list[str] | None  # expanded names from attrs=/pick= (query filter)
    options: set[str]


def _options(query: Mapping[str, str]) -> set[str]:
    opts = set(csv(query.get("options")))
    unknown = opts - _OPTIONS
    if unknown:
        raise BadRequestData(f"unknown options {sorted(unknown)}")
    return opts


def parse_render(query: Mapping[str, str], ctx: ActiveContext) -> RenderParams:
    opts = _options(query)
    fmt = "normalized"
    chosen = [o for o in ("keyValues", "simplified", "concise") if o in opts]
    if len(chosen) > 1 or ("normalized" in opts and chosen):
        raise BadRequestData("options name more than one representation")
    if chosen:
        fmt = "keyValues" if chosen[0] in ("keyValues", "simplified") else "concise"
    if "format" in query:
        f = query["format"]
        if f not in _FORMATS:
            raise BadRequestData(f"unknown format {f!r}")
        fmt = _FORMATS[f]
    attrs = csv(query.get("attrs"))
    pick = csv(query.get("pick"))
    omit = csv(query.get("omit"))
    if attrs and pick:
        raise BadRequestData("attrs and pick cannot be used together")
    if pick and omit:
        raise BadRequestData("pick and omit cannot be used together")
    pick_core = None
    selected: list[str] | None = None
    if pick:
        pick_core = frozenset(p for p in pick if p in _CORE_MEMBERS)
        selected = [ctx.expand(p) for p in pick if p not in _CORE_MEMBERS]
    elif attrs:
        selected = [ctx.expand(a) for a in attrs]
    omit_set = frozenset(o if o in _CORE_MEMBERS else ctx.expand(o) for o in omit)
    dataset_ids = None
    if "datasetId" in query:
        dataset_ids = frozenset(None if d == "@none" else d for d in csv(query["datasetId"]))
    geometry = query.get("geometryProperty")
    render = RenderOptions(
        fmt=fmt,
        sys_attrs="sysAttrs" in opts,
        attrs=frozenset(selected) if selected is not None else None,
        omit=omit_set,
        pick_core=pick_core,
        lang=query.get("lang"),
        dataset_ids=dataset_ids,
        geometry_property=ctx.expand(geometry) if geometry else
        "https://uri.etsi.org/ngsi-ld/location",
    )
    return RenderParams(render=render, attrs_filter=selected, options=opts)


@dataclass(slots=True)
class ListParams:
    limit: int
    offset: int
    count: bool


def _int(query: Mapping[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequestData(f"{name} must be an integer, got {raw!r}") from None
    if value < 0:
        raise BadRequestData(f"{name} must not be negative")
    return value


def parse_pagination(
    query: Mapping[str, str], default_limit: int, max_limit: int, options: set[str]
) -> ListParams:
    limit = _int(query, "limit", default_limit)
    offset = _int(query, "offset", 0)
    if limit > max_limit:
        err = TooManyResults(f"limit {limit} is above the maximum {max_limit}")
        raise err
    count_raw = query.get("count")
    if count_raw not in (None, "true", "false"):
        raise BadRequestData("count must be true or false")
    count = count_raw == "true" or "count" in options
    if limit == 0 and not count:
        raise BadRequestData("limit=0 is only allowed together with count=true")
    return ListParams(limit=limit, offset=offset, count=count)


def require(value: Any, message: str) -> Any:
    if value is None:
        raise InvalidRequest(message)
    return value
