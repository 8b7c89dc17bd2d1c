"""Reading the temporal representation (GS CIM 009 5.7.3 retrieve, 5.7.4 query, 4.5.7-4.5.9
and 4.5.19 representations), behind the one access boundary.

Every entity read here was decided by access control first (``access.decide_stored`` on
its stored owning dataset, after ``temporal_condition`` filtered the page in SQL): the
instances fetched are cut in SQL to the attributes the decision allows, so a grant limited
to attributes limits history and aggregates alike. Aggregated-only grants yield nothing
here: a temporal aggregate is always one entity's figure over time, i.e. one contributing
member, below any minimum group size, so such data stays invisible (404 / left out) — the
grouped figures across members are ``/ngsi-ld/ex/v1/aggregates``.

Long histories are cut at ``temporal_page_instances`` instances per entity, in time order
(newest first with ``lastN``); the answer is then 206 with ``Content-Range: date-time
<start>-<end>/<size>`` (6.3.x temporal pagination), the range the answer covers
completely, so the client asks for the next range with ``timeAt`` = its end.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from hub.errors import BadRequestData, InvalidRequest, ResourceNotFound
from hub.jsonld.active import ActiveContext
from hub.ngsild.checks import is_datetime
from hub.ngsild.render import RenderOptions, render_instance
from hub.query.geo import GeoQuery
from hub.query.qlang import QExpr
from hub.query.qlang_eval import evaluate_q
from hub.query.scopeq import ScopeExpr, evaluate_scope_q
from hub.service import access
from hub.store import temporal as sql

__all__ = ["Page", "TemporalParams", "geo_filter", "parse_params", "q_filter",
           "query_from_body", "read_entities", "retrieve_one", "scope_filter"]

LOCATION = "https://uri.etsi.org/ngsi-ld/location"

_TIME_PROPERTIES = ("observedAt", "createdAt", "modifiedAt", "deletedAt")
_FORMATS = {"normalized": "normalized", "temporalValues": "temporalValues",
            "simplified": "temporalValues", "keyValues": "temporalValues",
            "aggregatedValues": "aggregated", "aggregated": "aggregated",
            "concise": "normalized"}
_OPTIONS = frozenset({"temporalValues", "aggregatedValues", "sysAttrs", "normalized",
                      "simplified", "keyValues", "concise",
                      # ``options=count``: the legacy spelling of ``count=true`` entity
                      # queries accept too (hub/api/params.py), sent by ngsildclient
                      "count"})
_CORE = frozenset({"id", "type"})
#: the member of each attribute type in the simplified temporal representation (4.5.9)
#: and how one instance's value appears in its pairs
_SIMPLE_KEY = {"Property": "values", "GeoProperty": "values", "Relationship": "objects",
               "LanguageProperty": "languageMaps", "VocabProperty": "vocabs",
               "JsonProperty": "jsons", "ListProperty": "valueLists",
               "ListRelationship": "objectLists"}
_WRAPPED = {"LanguageProperty": "languageMap", "VocabProperty": "vocab", "JsonProperty": "json"}
_DURATION = re.compile(r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?")


@dataclass(frozen=True, slots=True)
class TemporalParams:
    """What a temporal request asks for, validated (names already expanded)."""

    rel: str | None
    start: datetime | None
    end: datetime | None
    time_property: str
    last_n: int | None
    fmt: str  # normalized | temporalValues | aggregated
    methods: tuple[str, ...]
    period_seconds: float | None
    attrs: frozenset[str] | None
    pick: frozenset[str] | None  # compact names of core members and attributes
    omit: frozenset[str]
    dataset_ids: tuple[str | None, ...] | None
    sys_attrs: bool


@dataclass(slots=True)
class Page:
    """The rendered entities and, when a history was cut, the Content-Range value."""

    entities: list[dict[str, Any]]
    content_range: str | None


def _csv(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(v).strip() for v in items if str(v).strip()]


def _instant(value: Any, name: str) -> datetime:
    if not is_datetime(value):
        raise BadRequestData(f"{name} must be a DateTime, got {value!r}")
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _period(text: str | None) -> float | None:
    """``aggrPeriodDuration`` (ISO 8601 duration) in seconds; years and months have no
    fixed length and are refused rather than approximated."""
    if text is None:
        return None
    m = _DURATION.fullmatch(text)
    if m is None or text in ("P", "PT") or text.endswith("T"):
        raise BadRequestData(f"aggrPeriodDuration {text!r} is not an ISO 8601 duration"
                             " in weeks, days, hours, minutes and seconds")
    w, d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    return (((w * 7 + d) * 24 + h) * 60 + mi) * 60 + s or None


def _format(query: Mapping[str, Any]) -> tuple[str, bool]:
    options = set(_csv(query.get("options")))
    if unknown := options - _OPTIONS:
        raise InvalidRequest(f"unknown options {sorted(unknown)}")
    fmt = "normalized"
    for option in ("temporalValues", "simplified", "keyValues", "aggregatedValues"):
        if option in options:
            fmt = _FORMATS[option]
    if "format" in query:
        if query["format"] not in _FORMATS:
            raise InvalidRequest(f"unknown format {query['format']!r}")
        fmt = _FORMATS[query["format"]]  # format takes precedence over options (6.3.7)
    return fmt, "sysAttrs" in options


def _projection(query: Mapping[str, Any], ctx: ActiveContext,
                attrs: list[str]) -> tuple[frozenset[str] | None, frozenset[str]]:
    pick = _csv(query.get("pick")) if "pick" in query else None
    omit = _csv(query.get("omit"))
    for name in [*(pick or []), *omit]:
        if "{" in name or "}" in name or "." in name:
            raise BadRequestData("the temporal API projects top-level members only")
    if attrs and (pick is not None or omit):
        raise BadRequestData("attrs cannot be combined with pick or omit")
    if pick is not None and set(pick) & set(omit):
        raise BadRequestData("the same member cannot be in pick and omit")
    return (frozenset(pick) if pick is not None else None), frozenset(omit)


def parse_params(query: Mapping[str, Any], ctx: ActiveContext) -> TemporalParams:
    """The temporal parameters of a GET query string or of a POST ``Query`` flattened into
    the same names (6.3.6-6.3.19 as they apply to 5.7.3 / 5.7.4)."""
    rel = query.get("timerel")
    start = end = None
    if rel is not None:
        if rel not in ("before", "after", "between"):
            raise BadRequestData("timerel must be before, after or between")
        start = _instant(query.get("timeAt"), "timeAt")
        if rel == "between":
            end = _instant(query.get("endTimeAt"), "endTimeAt")
            if end <= start:
                raise BadRequestData("endTimeAt must be after timeAt")
    elif "timeAt" in query or "endTimeAt" in query:
        raise BadRequestData("timeAt and endTimeAt need timerel")
    time_property = query.get("timeproperty", "observedAt")
    if time_property not in _TIME_PROPERTIES:
        raise BadRequestData(f"timeproperty must be one of {', '.join(_TIME_PROPERTIES)}")
    last_n = None
    if query.get("lastN") is not None:
        try:
            last_n = int(query["lastN"])
        except (TypeError, ValueError):
            raise BadRequestData("lastN must be a positive integer") from None
        if last_n < 1:
            raise BadRequestData("lastN must be a positive integer")
    fmt, sys_attrs = _format(query)
    methods = tuple(_csv(query.get("aggrMethods")))
    if unknown := [m for m in methods if m not in sql.AGGREGATES]:
        raise BadRequestData(f"unknown aggrMethods {unknown}")
    if fmt == "aggregated" and not methods:
        raise BadRequestData("the aggregated representation needs aggrMethods")
    names = _csv(query.get("attrs"))
    pick, omit = _projection(query, ctx, names)
    wanted = [ctx.expand(a) for a in names]
    if pick is not None:
        wanted = [ctx.expand(a) for a in pick if a not in _CORE]
    dataset_ids = None
    if query.get("datasetId") is not None:
        dataset_ids = tuple(None if d == "@none" else d for d in _csv(query["datasetId"]))
    return TemporalParams(
        rel=rel, start=start, end=end, time_property=time_property, last_n=last_n, fmt=fmt,
        methods=methods, period_seconds=_period(query.get("aggrPeriodDuration")),
        # a pick of core members only reads every attribute: whether history exists
        attrs=frozenset(wanted) if wanted else None, pick=pick,
        omit=omit, dataset_ids=dataset_ids, sys_attrs=sys_attrs)


def _iso(moment: datetime) -> str:
    text = moment.astimezone(UTC).isoformat(timespec="microseconds" if moment.microsecond
                                            else "seconds")
    return text.replace("+00:00", "Z")


def _readable(params: TemporalParams, allowed: frozenset[str] | None) -> list[str] | None:
    """The attributes to read: those asked for, cut to those access control allows."""
    if params.attrs is None:
        return None if allowed is None else sorted(allowed)
    return sorted(params.attrs if allowed is None else params.attrs & allowed)


#: the earliest instant to return per owning dataset (its retention, honoured on read:
#: ``hub/service/history.py`` ``read_since``); None everywhere keeps all
Since = Callable[[str | None], datetime | None]


def _keep_all(dataset: str | None) -> datetime | None:
    return None


async def retrieve_one(con: asyncpg.Connection, schema: str, entity_id: str,
                       params: TemporalParams, ctx: ActiveContext, cap: int,
                       since: Since = _keep_all) -> Page:
    """5.7.3: one entity's history; an entity the caller may not see is 404, exactly as a
    missing one, and so is one with no instance of the asked attributes (5.7.3.4)."""
    known = await sql.head(con, schema, entity_id)
    decision = access.decide_stored(entity_id, *known) if known is not None else None
    if known is None or decision is None or not decision.allowed:
        raise ResourceNotFound(f"no temporal representation of {entity_id}")
    page = await read_entities(con, schema, [(entity_id, known[0], decision.attributes)],
                               params, ctx, cap, since={entity_id: since(known[1])})
    if not page.entities:
        raise ResourceNotFound(f"{entity_id}: the projection leaves nothing")
    shown = page.entities[0]
    if (params.attrs is not None or params.pick is not None or params.omit) and not [
            k for k in shown if k not in _CORE] and not (params.pick or set()) & _CORE:
        raise ResourceNotFound(f"{entity_id} has no instance of the selected attributes")
    return page


async def read_entities(
    con: asyncpg.Connection, schema: str,
    decided: list[tuple[str, list[str], frozenset[str] | None]],
    params: TemporalParams, ctx: ActiveContext, cap: int, *, drop_empty: bool = False,
    since: Mapping[str, datetime | None] | None = None,
) -> Page:
    """The histories of entities already decided: (id, types, readable attributes or
    None for all). One statement reads every entity whose readable attributes are the
    same (most pages: one), the access cut in its WHERE. ``drop_empty`` (queries) leaves
    out entities with no instance in the selection. ``since`` (entity id -> earliest
    instant) is each entity's dataset retention: older observations are not read."""
    by_attrs: dict[tuple[str, ...] | None, list[str]] = {}
    groups: dict[tuple[tuple[str, ...] | None, datetime | None], list[str]] = {}
    for eid, _, allowed in decided:
        wanted = _readable(params, allowed)
        key = None if wanted is None else tuple(wanted)
        by_attrs.setdefault(key, []).append(eid)
        groups.setdefault((key, (since or {}).get(eid)), []).append(eid)
    rows: dict[str, list[Any]] = {eid: [] for eid, _, _ in decided}
    for (attrs, earliest), ids in groups.items():
        if attrs is not None and not attrs:
            continue
        args = (con, schema, ids, None if attrs is None else list(attrs),
                None if params.dataset_ids is None else list(params.dataset_ids),
                params.time_property, params.rel, params.start, params.end)
        if params.fmt == "aggregated":
            for r in await sql.aggregate_history(*args, list(params.methods),
                                                 params.period_seconds, earliest):
                rows[r["entity_id"]].append(r)
        else:
            for r in await sql.history(*args, params.last_n, cap, earliest):
                rows[r["entity_id"]].append(r)
    found = {eid for eid, entity_rows in rows.items() if entity_rows}
    content_range, emptied = None, {}
    if params.fmt != "aggregated":
        cut: list[datetime] = []
        for eid, entity_rows in rows.items():  # cap + 1 rows: cut at row cap
            if any(r["rn"] > cap for r in entity_rows):
                cut.extend(r["t"] for r in entity_rows if r["rn"] == cap and r["t"] is not None)
                rows[eid] = [r for r in entity_rows if r["rn"] <= cap]
        if cut:
            content_range = _cut_histories(rows, params, cut)
            emptied = await _cut_away(con, schema, by_attrs, rows)
    out = [_render(eid, types, rows[eid], params, ctx, emptied.get(eid, ()))
           for eid, types, _ in decided if eid in found or not drop_empty]
    return Page([o for o in out if o], content_range)


async def _cut_away(con: asyncpg.Connection, schema: str,
                    by_attrs: dict[tuple[str, ...] | None, list[str]],
                    rows: dict[str, list[Any]]) -> dict[str, list[str]]:
    """The attributes a cut left without instances, per entity: they are still named
    (with no instances), so a client knows to ask for the next range."""
    emptied: dict[str, list[str]] = {}
    for attrs, ids in by_attrs.items():
        if attrs is not None and not attrs:
            continue
        for eid, attr in await sql.attribute_names(con, schema, ids,
                                                   None if attrs is None else list(attrs)):
            if not any(r["attr"] == attr for r in rows[eid]):
                emptied.setdefault(eid, []).append(attr)
    return emptied


def _cut_histories(rows: dict[str, list[Any]], params: TemporalParams,
                   cut: list[datetime]) -> str | None:
    """Cut every history at the same instant (the earliest cut, or the latest going
    newest-first) so the answer covers its range completely; the Content-Range value."""
    newest_first = params.last_n is not None
    limit = max(cut) if newest_first else min(cut)
    kept: list[datetime] = []
    for eid, entity_rows in rows.items():
        rows[eid] = [r for r in entity_rows if r["t"] is None or (
            r["t"] >= limit if newest_first else r["t"] <= limit)]
        kept.extend(r["t"] for r in rows[eid] if r["t"] is not None)
    if not kept:
        return None
    if newest_first:
        first = (params.end if params.rel == "between" else
                 params.start if params.rel == "before" else max(kept))
    else:
        first = params.start if params.rel in ("after", "between") else min(kept)
    assert first is not None
    size = str(params.last_n) if params.last_n is not None else "*"
    return f"date-time {_iso(first)}-{_iso(limit)}/{size}"


def _render(eid: str, types: list[str], rows: list[Any], params: TemporalParams,
            ctx: ActiveContext, emptied: Iterable[str]) -> dict[str, Any]:
    compact = [ctx.compact(t) for t in types]
    out: dict[str, Any] = {"id": eid, "type": compact[0] if len(compact) == 1 else compact}
    for attr in emptied:
        out[ctx.compact(attr)] = ({"type": "Property", "values": []}
                                  if params.fmt == "temporalValues" else [])
    if params.fmt == "aggregated":
        _aggregated(out, rows, params, ctx)
    elif params.fmt == "temporalValues":
        _simplified(out, rows, params, ctx)
    else:
        opts = RenderOptions(sys_attrs=params.sys_attrs)
        for r in rows:
            shown = render_instance(r["data"], ctx, opts)
            shown["instanceId"] = r["instance_id"]
            out.setdefault(ctx.compact(r["attr"]), []).append(shown)
    if params.pick is not None:
        out = {k: v for k, v in out.items() if k in params.pick}
    return {k: v for k, v in out.items() if k not in params.omit}


def _grouped(out: dict[str, Any], groups: dict[tuple[str, str | None], dict[str, Any]],
             ctx: ActiveContext) -> None:
    """One object per attribute, or a list of them when it has several datasetIds."""
    per_attr: dict[str, list[dict[str, Any]]] = {}
    for (attr, _), group in groups.items():
        per_attr.setdefault(ctx.compact(attr), []).append(group)
    for name, items in per_attr.items():
        out[name] = items[0] if len(items) == 1 else items


def _simplified(out: dict[str, Any], rows: list[Any], params: TemporalParams,
                ctx: ActiveContext) -> None:
    """4.5.9: pairs of (value, instant of the time property) per attribute and datasetId."""
    groups: dict[tuple[str, str | None], dict[str, Any]] = {}
    opts = RenderOptions()
    for r in rows:
        shown = render_instance(r["data"], ctx, opts)
        typ = shown.get("type", "Property")
        key = _SIMPLE_KEY.get(typ, "values")
        group = groups.get((r["attr"], r["dataset_id"]))
        if group is None:
            group = groups[(r["attr"], r["dataset_id"])] = {"type": typ}
            if r["dataset_id"] is not None:
                group["datasetId"] = r["dataset_id"]
            group[key] = []
        member = {"values": "value", "objects": "object", "valueLists": "valueList",
                  "objectLists": "objectList"}.get(key)
        value = shown.get(member) if member else {_WRAPPED[typ]: shown.get(_WRAPPED[typ])}
        at = r["data"].get(params.time_property)
        group[key].append([value, at if at is not None else
                           (_iso(r["t"]) if r["t"] is not None else None)])
    _grouped(out, groups, ctx)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@functools.lru_cache(maxsize=4096)
def _bound(micros: int) -> str:
    """A bucket bound (epoch microseconds, as ``sql.aggregate_history`` sends them) as
    text, formatted once: bounds are shared by every entity and attribute of an answer
    (100 stations x 168 hours: 336 instants in 33,600 triples)."""
    return _iso(_EPOCH + timedelta(microseconds=micros))


def _aggregated(out: dict[str, Any], rows: list[Any], params: TemporalParams,
                ctx: ActiveContext) -> None:
    """4.5.19: per method, triples of (figure, bucket start, bucket end) in time order; a
    row holds one attribute and datasetId, its buckets as aligned arrays in no particular
    order (``sql.aggregate_history``)."""
    groups: dict[tuple[str, str | None], dict[str, Any]] = {}
    for r in rows:
        group = groups[(r["attr"], r["dataset_id"])] = {"type": r["typ"] or "Property"}
        if r["dataset_id"] is not None:
            group["datasetId"] = r["dataset_id"]
        starts, ends = r["start_us"], r["end_us"]
        order = sorted(range(len(starts)), key=starts.__getitem__)
        bounds = [(_bound(starts[j]), _bound(ends[j])) for j in order]
        for k, method in enumerate(params.methods):
            figures = r[f"m{k}"]
            group[method] = [[figures[j], *bound] for j, bound in zip(order, bounds,
                                                                      strict=True)]
    _grouped(out, groups, ctx)


def query_from_body(body: Any) -> dict[str, Any]:
    """POST /temporal/entityOperations/query (5.7.5? / 6.24): a ``Query`` body flattened into
    the GET parameter names, so both go through one parser and one access path."""
    if not isinstance(body, dict) or body.get("type") != "Query":
        raise BadRequestData("the body must be a Query (type: Query)")
    flat: dict[str, Any] = {}
    entities = body.get("entities")
    if entities is not None:
        if not isinstance(entities, list) or not all(isinstance(e, dict) for e in entities):
            raise BadRequestData("entities must be a list of EntitySelector objects")
        types = [e["type"] for e in entities if "type" in e]
        ids = [e["id"] for e in entities if "id" in e]
        if types:
            flat["type"] = ",".join(str(t) for t in types)
        if ids:
            flat["id"] = ",".join(str(i) for i in ids)
        patterns = [e["idPattern"] for e in entities if "idPattern" in e]
        if patterns:
            flat["idPattern"] = str(patterns[0])
    temporal = body.get("temporalQ")
    if temporal is not None:
        if not isinstance(temporal, dict):
            raise BadRequestData("temporalQ must be an object")
        for name in ("timerel", "timeAt", "endTimeAt", "timeproperty", "lastN"):
            if name in temporal:
                flat[name] = temporal[name]
    for name in ("attrs", "q", "scopeQ", "datasetId"):
        if name in body:
            value = body[name]
            flat[name] = ",".join(value) if isinstance(value, list) else value
    geo = body.get("geoQ")
    if geo is not None:
        if not isinstance(geo, dict):
            raise BadRequestData("geoQ must be an object")
        for name in ("georel", "geometry", "coordinates", "geoproperty"):
            if name in geo:
                flat[name] = geo[name]
    return flat


async def geo_filter(
    con: asyncpg.Connection, schema: str,
    decided: list[tuple[str, list[str], frozenset[str] | None]],
    geo: GeoQuery, params: TemporalParams, ctx: ActiveContext, cap: int,
    since: Mapping[str, datetime | None] | None = None,
) -> list[tuple[str, list[str], frozenset[str] | None]]:
    """The entities one of whose geo-property instances in the window matches the
    geo-query (5.7.4 with a geo-query), evaluated with shapely as on entities; a
    geo-property the caller may not read never matches."""
    prop = ctx.expand(geo.geoproperty) if geo.geoproperty else LOCATION
    kept = []
    for eid, types, allowed in decided:
        if allowed is not None and prop not in allowed:
            continue
        rows = await sql.history(con, schema, [eid], [prop], None, params.time_property,
                                 params.rel, params.start, params.end, None, cap,
                                 (since or {}).get(eid))
        if any(geo.matches(r["data"].get("value")) for r in rows):
            kept.append((eid, types, allowed))
    return kept


SCOPE = "https://uri.etsi.org/ngsi-ld/scope"


async def scope_filter(
    con: asyncpg.Connection, schema: str,
    decided: list[tuple[str, list[str], frozenset[str] | None]],
    expr: ScopeExpr, params: TemporalParams, cap: int,
    since: Mapping[str, datetime | None] | None = None,
) -> list[tuple[str, list[str], frozenset[str] | None]]:
    """The entities whose scope history (the scope kept as an attribute of the temporal
    entity) has, in the window, a value satisfying ``scopeQ`` (4.19); like ``q``, one
    instance satisfying it is enough. A scope the caller may not read never matches."""
    kept = []
    for eid, types, allowed in decided:
        if allowed is not None and SCOPE not in allowed:
            continue
        rows = await sql.history(con, schema, [eid], [SCOPE], None, params.time_property,
                                 params.rel, params.start, params.end, None, cap,
                                 (since or {}).get(eid))
        if any(evaluate_scope_q(expr, r["data"].get("value") or None) for r in rows):
            kept.append((eid, types, allowed))
    return kept


async def q_filter(
    con: asyncpg.Connection, schema: str,
    decided: list[tuple[str, list[str], frozenset[str] | None]],
    expr: QExpr, params: TemporalParams, ctx: ActiveContext, cap: int,
    since: Mapping[str, datetime | None] | None = None,
) -> list[tuple[str, list[str], frozenset[str] | None]]:
    """The entities whose history in the window satisfies ``q``: each term is evaluated
    over every instance of its attribute in the window (one of them satisfying it is
    enough, as with several datasetIds of an entity). Only readable attributes take
    part, so a hidden attribute can neither match nor be probed."""
    kept = []
    for eid, types, allowed in decided:
        rows = await sql.history(con, schema, [eid],
                                 None if allowed is None else sorted(allowed), None,
                                 params.time_property, params.rel, params.start,
                                 params.end, None, cap, (since or {}).get(eid))
        attrs: dict[str, list[Any]] = {}
        for r in rows:
            attrs.setdefault(r["attr"], []).append(r["data"])
        if evaluate_q(expr, {"id": eid, "types": types, "attrs": attrs}, ctx.expand):
            kept.append((eid, types, allowed))
    return kept
