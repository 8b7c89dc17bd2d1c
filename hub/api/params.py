"""Query parameters shared by retrieve, query and batch query (GS CIM 009 6.3.6-6.3.18)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub.errors import BadRequestData, InvalidRequest, TooManyResults
from hub.jsonld.active import ActiveContext
from hub.ngsild.checks import is_uri, valid_attr_name
from hub.ngsild.render import RenderOptions
from hub.query.projection import Projection, parse_projection

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
        raise InvalidRequest(f"unknown options {sorted(unknown)}")
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
            raise InvalidRequest(f"unknown format {f!r}")
        fmt = _FORMATS[f]
    attrs = csv(query.get("attrs"))
    if attrs and ("pick" in query or "omit" in query):
        raise BadRequestData("attrs cannot be combined with pick or omit")
    pick = _projection(query.get("pick"), ctx)
    omit = _projection(query.get("omit"), ctx)
    if pick is not None and omit is not None and set(pick) & set(omit):
        raise BadRequestData("the same member cannot be in pick and omit")
    for name in attrs:
        if name in _CORE_MEMBERS:
            raise BadRequestData(f"{name!r} is not an attribute name")
    selected: list[str] | None = None
    if pick is not None:
        selected = [k for k in pick if k not in _CORE_MEMBERS]
    elif attrs:
        selected = [ctx.expand(a) for a in attrs]
    dataset_ids = None
    if "datasetId" in query:
        dataset_ids = frozenset(None if d == "@none" else d for d in csv(query["datasetId"]))
    geometry = query.get("geometryProperty")
    join = query.get("join")
    if join not in (None, "inline", "flat", "@none"):
        raise BadRequestData("join must be inline, flat or @none")
    render = RenderOptions(
        fmt=fmt,
        sys_attrs="sysAttrs" in opts,
        attrs=frozenset(selected) if selected is not None else None,
        lang=query.get("lang"),
        dataset_ids=dataset_ids,
        geometry_property=ctx.expand(geometry) if geometry else
        "https://uri.etsi.org/ngsi-ld/location",
        join=None if join == "@none" else join,
        join_level=_int(query, "joinLevel", 1),
    ).with_projection(pick, omit)
    attrs_filter = [ctx.expand(a) for a in attrs] if attrs else None
    return RenderParams(render=render, attrs_filter=attrs_filter, options=opts)


def _projection(text: str | None, ctx: ActiveContext) -> Projection | None:
    """Parse pick/omit and expand attribute names (core member names stay as they are)."""
    if text is None:
        return None
    if not text:
        raise BadRequestData("pick and omit must not be empty")

    def expand(p: Projection) -> Projection:
        return {(k if k in _CORE_MEMBERS else ctx.expand(k)): (expand(v) if v else None)
                for k, v in p.items()}

    return expand(parse_projection(text))


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


_QUERY_COMMON = {"attrs", "pick", "omit", "lang", "options", "format", "datasetId", "local",
                 "join", "joinLevel", "containedBy", "entityMap", "geometryProperty",
                 "jsonKeys", "via", "expandValues", "collect"}
_SELECT = {"id", "idPattern", "type", "q", "scopeQ", "georel", "geometry", "coordinates",
           "geoproperty", "csf"}
ALLOWED = {
    "create": {"local"},
    "query": _QUERY_COMMON | _SELECT | {"limit", "offset", "count", "orderBy"},
    "retrieve": _QUERY_COMMON | {"type"},
    "delete": {"type", "local", "via"},
    "purge": _SELECT | {"local", "via", "keep", "drop"},
    "merge": {"options", "type", "local", "format", "observedAt", "lang"},
    "replace": {"type", "local", "lang", "format"},
    "append": {"options", "type", "local"},
    "update": {"type", "local", "options"},
    "attr": {"type", "local", "lang", "datasetId", "deleteAll", "options", "format"},
    "batch": {"options", "local", "format"},
    "batch_query": _QUERY_COMMON | {"limit", "offset", "count", "orderBy"},
    "discovery": {"details", "local", "via", "type"},
    "contexts": {"details", "kind", "reload"},
    "subscriptions": {"limit", "offset", "count", "options", "local"},
    "subscription": {"options", "local"},
    "temporal_query": _SELECT | {"attrs", "options", "format", "lang", "limit", "offset",
                                 "count", "timerel", "timeAt", "endTimeAt", "timeproperty",
                                 "lastN", "local", "aggrMethods", "aggrPeriodDuration",
                                 "datasetId", "pick", "omit", "orderBy"},
    "temporal_retrieve": {"attrs", "options", "format", "lang", "timerel", "timeAt",
                          "endTimeAt", "timeproperty", "lastN", "local", "aggrMethods",
                          "aggrPeriodDuration", "datasetId", "pick", "omit", "type"},
}


def check_params(query: Mapping[str, str], endpoint: str) -> None:
    """An unknown query parameter is an InvalidRequest (6.3.6 via the ETSI suite, 059_01)."""
    unknown = set(query) - ALLOWED[endpoint]
    if unknown:
        raise InvalidRequest(f"unknown query parameters {sorted(unknown)}")


def attribute_iri(name: str, ctx: ActiveContext) -> str:
    """An attribute name from the path (``{attrId}``), validated and expanded."""
    if not valid_attr_name(name) or name.startswith("@"):
        raise BadRequestData(f"invalid attribute name {name!r}")
    return ctx.expand(name)


def dataset_id_param(query: Mapping[str, str]) -> str | None:
    """``datasetId`` for attribute deletion: a URI or absent (the default instance)."""
    dataset_id = query.get("datasetId")
    if dataset_id is not None and not is_uri(dataset_id):
        raise BadRequestData(f"datasetId {dataset_id!r} is not a URI")
    return dataset_id
