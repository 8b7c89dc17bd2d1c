"""/ngsi-ld/ex/v1/aggregates: grouped counts and figures over current entity state.

A Renkei extension, not part of GS CIM 009 (which aggregates one entity's history over
time, 4.5.19, not many entities at one time); it lives under ``/ngsi-ld/ex/`` as Orion-LD
keeps its own extensions. It is how a consumer with an aggregated-only grant — the
only kind a personal-data dataset is ever granted — sees that data at all: as groups of at
least the grant's minimum size, with counts, sums and averages, never single entities
nor a group's extremes (min and max would name one member's value), nor the figures of
an attribute fewer than the minimum number of members contribute a value to (they are
null: a group of three where one member has the attribute would show that value). Callers
with raw access may use every method. The filter is the entity query's (``type``, ``q``) and passes
the same enforcement point (``hub.service.access.aggregate_condition``).

    GET /ngsi-ld/ex/v1/aggregates?type=LoanRecord&groupBy=branch&attrs=loans&aggrMethods=sum,avg
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub import keys
from hub.api import tx
from hub.api.common import (
    JSON,
    JSONLD,
    accepted_type,
    json_response,
    request_context,
    tenant_schema,
)
from hub.api.params import attribute_iri, csv, parse_pagination
from hub.errors import BadRequestData, Forbidden, InvalidRequest
from hub.query.qlang import parse_q
from hub.query.typeexpr import parse_types_expr
from hub.service import access
from hub.service.selection import EntitySelector, Selection, build_filter
from hub.store import aggregates as sql

__all__ = ["routes"]

routes = web.RouteTableDef()
PATH = "/ngsi-ld/ex/v1/aggregates"
ALLOWED = frozenset({"type", "q", "groupBy", "attrs", "aggrMethods", "limit", "offset"})
MAX_GROUP_BY = 3
#: what an aggregated-only grant allows: figures over the group, not any one member's value
AGGREGATED_METHODS = frozenset({"sum", "avg"})


def _names(request: web.Request, param: str, ctx: Any) -> list[tuple[str, str]]:
    """(short name, IRI) for each attribute named in ``param``."""
    return [(n, attribute_iri(n, ctx)) for n in dict.fromkeys(csv(request.query.get(param)))]


@routes.get(PATH)
async def aggregate(request: web.Request) -> web.Response:
    unknown = set(request.query) - ALLOWED
    if unknown:
        raise InvalidRequest(f"unknown query parameters {sorted(unknown)}")
    media = accepted_type(request, (JSON, JSONLD))
    rc = await request_context(request)
    if not request.query.get("type"):
        raise BadRequestData("an aggregate query needs type")
    group_by = _names(request, "groupBy", rc.active)
    if len(group_by) > MAX_GROUP_BY:
        raise BadRequestData(f"groupBy takes at most {MAX_GROUP_BY} attributes")
    measured = _names(request, "attrs", rc.active)
    methods = list(dict.fromkeys(csv(request.query.get("aggrMethods"))))
    bad = [m for m in methods if m not in sql.METHODS]
    if bad:
        raise BadRequestData(f"aggrMethods must be among {', '.join(sql.METHODS)}, not"
                             f" {', '.join(bad)}")
    if measured and not methods:
        raise BadRequestData("attrs needs aggrMethods (sum, avg, min, max)")
    settings = request.app[keys.SETTINGS]
    page = parse_pagination(request.query, settings.default_limit, settings.max_limit, set())
    sel = Selection(selectors=[EntitySelector(types=parse_types_expr(request.query["type"]))])
    if "q" in request.query:
        sel.q = parse_q(request.query["q"])
    wanted = ({iri for _, iri in group_by} | {iri for _, iri in measured}
              | access.referenced(sel.q, rc.active.expand))
    sel.access, min_group = access.aggregate_condition(wanted)
    if min_group is not None and not set(methods) <= AGGREGATED_METHODS:
        raise Forbidden("aggregated-only data allows the methods sum and avg (and the"
                        " totalCount every group has): min and max would show one"
                        " member's value")
    schema = await tenant_schema(request)
    measures = [(m, iri) for _, iri in measured for m in methods]
    async with tx.read(request) as con:
        flt = build_filter(sel, rc.active, schema)
        groups = await sql.aggregate(con, schema, flt, [iri for _, iri in group_by],
                                     measures, min_group, page.limit, page.offset)
    out = []
    for key, count, figures in groups:
        group: dict[str, Any] = {name: value for (name, _), value in zip(group_by, key,
                                                                         strict=True)}
        group["totalCount"] = count
        it = iter(figures)
        for name, _ in measured:
            group[name] = {m: next(it) for m in methods}
        out.append(group)
    body = {"type": request.query["type"], "groupBy": [n for n, _ in group_by],
            "minGroupSize": min_group, "groups": out}
    return json_response(body, rc, media)
