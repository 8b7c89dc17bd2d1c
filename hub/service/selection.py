"""Which entities a request selects: ids, idPattern, type expression, attrs, q, scopeQ, geo.

One place turns GET parameters and POST Query bodies (5.7.2, 5.10.2 ``Query``) into the same
``Selection``, and one function compiles a ``Selection`` to SQL, so query, batch query,
purge and (later) subscriptions agree on what matches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.errors import BadRequestData
from hub.jsonld.active import ActiveContext
from hub.ngsild.checks import is_uri
from hub.query.estimates import even_odds
from hub.query.geo import GeoQuery, parse_geo_query
from hub.query.linear_regex import check_id_pattern  # one rule for every idPattern
from hub.query.orderby import compile_order_by, creation_walk, tie_break, walk_attribute
from hub.query.qlang import parse_q
from hub.query.qlang_sql import compile_q_shared
from hub.query.regex_literal import regex_condition, required_literal
from hub.query.scopeq import compile_scope_q, parse_scope_q
from hub.query.typeexpr import TypeExpr, compile_types, parse_types_expr
from hub.store.entities import Filter, geo_gate

__all__ = ["EntitySelector", "Selection", "build_filter", "check_id_pattern",
           "selection_from_body", "selection_from_query"]


@dataclass(slots=True)
class EntitySelector:
    id: str | None = None
    id_pattern: str | None = None
    types: TypeExpr | None = None


@dataclass(slots=True)
class Selection:
    selectors: list[EntitySelector] = field(default_factory=list)
    attrs: list[str] = field(default_factory=list)  # expanded; entity must have one of them
    q: Any = None
    scope_q: Any = None
    geo: GeoQuery | None = None
    order_by: str | None = None
    # access control's condition (hub/service/access.py), placeholders ``{}``
    access: tuple[str, list[Any]] | None = None
    # whether that condition leaves out most datasets of the catalogue (a firm's
    # grants): a count then joins the keys it passes (``store.entities.count_entities``)
    access_partial: bool = False
    # when partial, a condition on a dataset column (an index row's copy, ``v.dataset``)
    # that every index row of an entity passing ``access`` passes: the datasets the
    # condition reads at all (``catalogue.datasets_bound``)
    access_bound: Callable[[str], str] | None = None

    def is_constrained(self) -> bool:
        """6.4.3.2: a query names a type, attrs, q, scopeQ or a geo-query (ids alone do not)."""
        return bool(any(s.types is not None for s in self.selectors) or self.attrs
                    or self.q is not None or self.scope_q is not None or self.geo is not None)

    def is_empty(self) -> bool:
        return not (self.selectors or self.attrs or self.q is not None
                    or self.scope_q is not None or self.geo is not None)


def _ids(raw: str) -> list[str]:
    ids = [i.strip() for i in raw.split(",") if i.strip()]
    for i in ids:
        if not is_uri(i):
            raise BadRequestData(f"id {i!r} is not a URI")
    return ids


def selection_from_query(
    query: Mapping[str, str], ctx: ActiveContext, *, attrs: list[str] | None
) -> Selection:
    sel = Selection()
    types = parse_types_expr(query["type"]) if "type" in query else None
    pattern = check_id_pattern(query["idPattern"]) if "idPattern" in query else None
    if "id" in query:
        sel.selectors = [EntitySelector(id=i, id_pattern=pattern, types=types)
                         for i in _ids(query["id"])]
    elif types is not None or pattern is not None:
        sel.selectors = [EntitySelector(id_pattern=pattern, types=types)]
    sel.attrs = attrs or []
    if "q" in query:
        sel.q = parse_q(query["q"])
    if "scopeQ" in query:
        sel.scope_q = parse_scope_q(query["scopeQ"])
    sel.geo = parse_geo_query(
        query.get("georel"), query.get("geometry"), query.get("coordinates"),
        query.get("geoproperty"),
    )
    sel.order_by = query.get("orderBy")
    return sel


def selection_from_body(body: dict[str, Any], ctx: ActiveContext) -> Selection:
    """A ``Query`` data type (5.2.23) posted to /entityOperations/query."""
    if body.get("type") != "Query":
        raise BadRequestData("the body must be a Query (type Query)")
    sel = Selection()
    entities = body.get("entities")
    if entities is not None:
        if not isinstance(entities, list):
            raise BadRequestData("Query.entities must be an array")
        for item in entities:
            if not isinstance(item, dict):
                raise BadRequestData("Query.entities items must be objects")
            if "id" in item and not is_uri(item["id"]):
                raise BadRequestData(f"id {item['id']!r} is not a URI")
            types = parse_types_expr(item["type"]) if isinstance(item.get("type"), str) else None
            if "type" in item and types is None:
                raise BadRequestData("EntitySelector.type must be a string")
            pattern = item.get("idPattern")
            sel.selectors.append(EntitySelector(
                id=item.get("id"),
                id_pattern=check_id_pattern(pattern) if pattern else None,
                types=types,
            ))
    attrs = body.get("attrs")
    if attrs is not None:
        if not isinstance(attrs, list) or not all(isinstance(a, str) for a in attrs):
            raise BadRequestData("Query.attrs must be an array of strings")
        sel.attrs = [ctx.expand(a) for a in attrs]
    if body.get("q") is not None:
        sel.q = parse_q(body["q"])
    if body.get("scopeQ") is not None:
        sel.scope_q = parse_scope_q(body["scopeQ"])
    geo = body.get("geoQ")
    if geo is not None:
        if not isinstance(geo, dict):
            raise BadRequestData("Query.geoQ must be an object")
        sel.geo = parse_geo_query(geo.get("georel"), geo.get("geometry"),
                                  geo.get("coordinates"), geo.get("geoproperty"))
    return sel


def build_filter(sel: Selection, ctx: ActiveContext, schema: str) -> Filter:
    flt = Filter(schema=schema)
    ors: list[str] = []
    for s in sel.selectors:
        parts: list[str] = []
        if s.id is not None:
            flt.params.append(s.id)
            parts.append(f"e.id = ${len(flt.params)}")
        if s.id_pattern is not None:
            sql, values = regex_condition("e.id", s.id_pattern)
            first = flt.next_param()
            flt.params.extend(values)
            parts.append(sql.format(*(f"${first + i}" for i in range(len(values)))))
            literal = required_literal(s.id_pattern)
            if len(sel.selectors) == 1 and literal is not None:
                # the ids holding the literal, index-only, then each one's pk
                flt.lazy.append((
                    f"SELECT x.pk AS eid FROM (SELECT i.id FROM {schema}.entities i"
                    " WHERE strpos(i.id, {}) > 0) AS m CROSS JOIN LATERAL"
                    f" (SELECT x.pk FROM {schema}.entities x WHERE x.id = m.id OFFSET 0) AS x",
                    [literal]))
        if s.types is not None:
            sql, params = compile_types(s.types, ctx.expand, flt.next_param())
            flt.params.extend(params)
            parts.append(sql)
        ors.append(" AND ".join(parts) if parts else "TRUE")
    if ors:
        flt.conditions.append(" OR ".join(f"({o})" for o in ors))
        if all(s.id is None and s.id_pattern is None for s in sel.selectors):
            flt.key_conditions.append(flt.conditions[-1])
    if sel.attrs:
        flt.add(even_odds("e.attrs ?| {}::text[]"), sel.attrs)
    if sel.q is not None:
        frag = compile_q_shared(sel.q, ctx, alias="e", first_param=flt.next_param(),
                                schema=schema)
        flt.add_fragment(frag.sql, frag.params)
        flt.drivers.extend(frag.drivers)
        flt.lazy.extend(frag.lazy)
        flt.bounds.extend(frag.bounds)
        flt.driver_attrs.update(frag.driver_attrs)
        flt.either_attrs.update(frag.either_attrs)
        flt.probes.update(frag.probes)
    if sel.scope_q is not None:
        frag = compile_scope_q(sel.scope_q, alias="e", first_param=flt.next_param())
        flt.add_fragment(frag.sql, frag.params)
    if sel.geo is not None:
        attr = ctx.expand(sel.geo.geoproperty) if sel.geo.geoproperty else (
            "https://uri.etsi.org/ngsi-ld/location")
        bbox = sel.geo.bbox()
        if bbox is not None:
            a, x1, y1, x2, y2 = (f"${flt.next_param() + i}" for i in range(5))
            source = (f"FROM {schema}.entity_geo g WHERE g.attr = {a}"
                      f" AND g.bbox && box(point({x1}, {y1}), point({x2}, {y2}))")
            # always a per-row probe: PostgreSQL estimates any box overlap at 0.5 %, so a
            # join would sort every overlapping row (the candidate set bounds the rest)
            probe = f"EXISTS (SELECT 1 {source} AND g.eid = e.pk OFFSET 0)"
            flt.add_fragment(probe, [attr, *bbox])
            flt.drivers.append(f"SELECT g.eid {source}")
            flt.probes[flt.drivers[-1]] = probe
            flt.gates[flt.drivers[-1]] = geo_gate(source)
            flt.geo_driver = flt.drivers[-1]
        else:
            flt.add(even_odds("e.attrs ? {}"), attr)
    if sel.access is not None:
        flt.add(sel.access[0], *sel.access[1])
        flt.key_conditions.append(flt.conditions[-1])
        if sel.access_partial:
            flt.access = flt.conditions[-1]
        if sel.access_bound is not None:
            flt.bind_datasets(sel.access_bound)
    if sel.order_by:
        exprs, order_params = compile_order_by(sel.order_by, ctx.expand, flt.next_param())
        flt.order, flt.order_params = exprs, list(order_params)
        flt.tie = tie_break(sel.order_by)
        flt.created = creation_walk(sel.order_by)
        flt.walk = walk_attribute(sel.order_by, ctx.expand)
    return flt
