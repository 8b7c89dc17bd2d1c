"""Which subscriptions an entity change fires, and the entity each notification carries
(GS CIM 009 5.8.1, 5.2.12 ``notificationTrigger``, 5.2.14 ``showChanges``).

Pure: a change is the entity row before and after (either may be absent), a subscription is
its stored form (``model.py``). ``q``, ``scopeQ`` and ``geoQ`` are evaluated with the same
parsers and rules the query path uses (``qlang_eval`` mirrors ``qlang_sql``), so a
subscription matches exactly the entities a query with the same filter would return.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson

from hub.jsonld.active import ActiveContext
from hub.ngsild.checks import utc_iso
from hub.ngsild.render import RenderOptions
from hub.query.geo import GeoQuery, parse_geo_query
from hub.query.linear_regex import id_pattern_matcher
from hub.query.qlang import QExpr, parse_q
from hub.query.qlang_eval import evaluate_q
from hub.query.scopeq import ScopeExpr, evaluate_scope_q, parse_scope_q
from hub.query.typeexpr import TypeExpr, evaluate_types, parse_types_expr
from hub.service.selection import EntitySelector, Selection
from hub.subscriptions.model import DEFAULT_TRIGGERS, q_text

__all__ = [
    "Change",
    "Fired",
    "change_from_row",
    "diff",
    "match",
    "passes_filters",
    "render_options",
    "subscription_selection",
]

LOCATION = "https://uri.etsi.org/ngsi-ld/location"


@dataclass(frozen=True, slots=True)
class Change:
    """One entity's change: ``before``/``after`` are stored entities (``row_to_entity`` shape)."""

    entity_id: str
    op: str  # "c", "u", "d"
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    at: str  # DateTime of the change


@dataclass(frozen=True, slots=True)
class Fired:
    """The reason a subscription fires for a change, and the attributes concerned."""

    trigger: str
    attributes: frozenset[str]  # expanded IRIs created/updated/deleted (empty for entity*)


def _iso(value: str) -> str:
    """PostgreSQL's jsonb text of a ``timestamptz`` -> the spec's DateTime."""
    return utc_iso(datetime.fromisoformat(value))


def _entity(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "id": row["id"],
        "types": row["types"],
        "scopes": row.get("scopes"),
        "attrs": row["attrs"],
        "createdAt": _iso(row["created_at"]),
        "modifiedAt": _iso(row["modified_at"]),
    }


def change_from_row(entity_id: str, op: str, old: Any, new: Any, at: datetime) -> Change:
    return Change(entity_id, op, _entity(old), _entity(new), utc_iso(at))


@lru_cache(maxsize=4096)
def _q(text: str) -> QExpr:
    return parse_q(text)


@lru_cache(maxsize=4096)
def _scope_q(text: str) -> ScopeExpr:
    return parse_scope_q(text)


@lru_cache(maxsize=1024)
def _types(text: str) -> TypeExpr:
    return parse_types_expr(text)


@lru_cache(maxsize=1024)
def _geo_query(georel: str, geometry: str, coordinates: str, geoproperty: str | None
               ) -> GeoQuery:
    """Parsed once per distinct geoQ: the GeoQuery keeps its prepared shapely geometry, so
    matching a change does not rebuild it."""
    parsed = parse_geo_query(georel, geometry, coordinates, geoproperty)
    assert parsed is not None
    return parsed


def _selected(sub: dict[str, Any], ent: dict[str, Any], ctx: ActiveContext) -> bool:
    selectors = sub.get("entities")
    if not selectors:
        return True
    for sel in selectors:
        if "type" in sel:
            if sel["type"] not in ent["types"]:
                continue
        elif not evaluate_types(_types(sel["typeExpr"]), ent["types"], ctx.expand):
            continue
        if "id" in sel and sel["id"] != ent["id"]:
            continue
        if "idPattern" in sel:
            # RE2, linear time: a client's pattern never blocks the loop (linear_regex.py)
            pattern = id_pattern_matcher(sel["idPattern"])
            if pattern is None or pattern.search(ent["id"]) is None:
                continue
        return True
    return False


def _geo(sub: dict[str, Any]) -> GeoQuery:
    g = sub["geoQ"]
    return _geo_query(g["georel"], g["geometry"], orjson.dumps(g["coordinates"]).decode(),
                      g.get("geoproperty"))


def passes_filters(sub: dict[str, Any], ent: dict[str, Any], ctx: ActiveContext) -> bool:
    """Selector, ``q``, ``scopeQ`` and ``geoQ`` against one entity state."""
    if not _selected(sub, ent, ctx):
        return False
    if "q" in sub and not evaluate_q(_q(q_text(sub["q"])), ent, ctx.expand):
        return False
    if "scopeQ" in sub and not evaluate_scope_q(_scope_q(sub["scopeQ"]), ent.get("scopes")):
        return False
    if "geoQ" in sub:
        geo = _geo(sub)
        prop = geo.geoproperty or LOCATION
        if not any(geo.matches(i.get("value")) for i in ent["attrs"].get(prop, [])):
            return False
    return True


def _by_dataset(instances: list[dict[str, Any]]) -> dict[str | None, dict[str, Any]]:
    return {i.get("datasetId"): i for i in instances}


def diff(before: dict[str, Any], after: dict[str, Any]
         ) -> tuple[set[str], set[str], set[str]]:
    """Attributes created, updated and deleted between two states of an entity.

    Per instance (``datasetId``): an attribute that lost an instance counts as deleted (the
    notification shows that instance as NGSI-LD Null), one whose instances changed or grew
    counts as updated. A rewrite with the same value is an update: ``modifiedAt`` moved.
    """
    old, new = before["attrs"], after["attrs"]
    created = set(new) - set(old)
    deleted = set(old) - set(new)
    updated: set[str] = set()
    for a in set(new) & set(old):
        if new[a] == old[a]:
            continue
        if set(_by_dataset(old[a])) - set(_by_dataset(new[a])):
            deleted.add(a)
        else:
            updated.add(a)
    return created, updated, deleted


def match(sub: dict[str, Any], change: Change, ctx: ActiveContext) -> Fired | None:
    """The trigger of ``sub`` that ``change`` fires, or None: one notification per change.

    Attribute triggers look only at the watched attributes (all attributes when the
    subscription watches none). The filters are evaluated on the entity as it is after the
    change, or as it was before a deletion.
    """
    triggers = sub.get("notificationTrigger", DEFAULT_TRIGGERS)
    state = change.after if change.after is not None else change.before
    assert state is not None
    if not passes_filters(sub, state, ctx):
        return None
    watched = sub.get("watchedAttributes")

    def concerned(names: set[str]) -> frozenset[str]:
        return frozenset(names if watched is None else names & set(watched))

    if change.op == "c":
        assert change.after is not None
        attrs = concerned(set(change.after["attrs"]))
        if "entityCreated" in triggers and (watched is None or attrs):
            return Fired("entityCreated", attrs)
        if "attributeCreated" in triggers and attrs:
            return Fired("attributeCreated", attrs)
        return None
    if change.op == "d":
        assert change.before is not None
        attrs = concerned(set(change.before["attrs"]))
        if "entityDeleted" in triggers and (watched is None or attrs):
            return Fired("entityDeleted", attrs)
        if "attributeDeleted" in triggers and attrs:
            return Fired("attributeDeleted", attrs)
        return None
    assert change.before is not None and change.after is not None
    created, updated, deleted = (concerned(s) for s in diff(change.before, change.after))
    core_changed = (change.before["types"] != change.after["types"]
                    or change.before.get("scopes") != change.after.get("scopes"))
    if "attributeCreated" in triggers and created:
        return Fired("attributeCreated", created)
    if "attributeUpdated" in triggers and updated:
        return Fired("attributeUpdated", updated)
    if "attributeDeleted" in triggers and deleted:
        return Fired("attributeDeleted", deleted)
    if "entityUpdated" in triggers and (created or updated or deleted
                                        or (watched is None and core_changed)):
        return Fired("entityUpdated", created | updated | deleted)
    return None


def render_options(sub: dict[str, Any]) -> RenderOptions:
    note = sub["notification"]
    attrs = note.get("attributes")
    pick = note.get("pick")
    omit = note.get("omit")
    opts = RenderOptions(
        fmt="keyValues" if note.get("format") == "simplified" else
        note.get("format", "normalized"),
        sys_attrs=bool(note.get("sysAttrs", False)),
        attrs=frozenset(attrs) if attrs else None,
        lang=sub.get("lang"),
        dataset_ids=frozenset(None if d == "@none" else d for d in sub["datasetId"])
        if "datasetId" in sub else None,
    )
    if pick is not None:
        opts.pick_core = frozenset(p for p in pick if p in ("id", "type"))
        opts.attrs = frozenset(p for p in pick if p not in ("id", "type"))
    if omit is not None:
        opts.omit = frozenset(omit)
    if note.get("join") in ("flat", "inline"):
        opts.join = note["join"]
        opts.join_level = int(note.get("joinLevel", 1))
    return opts


def subscription_selection(sub: dict[str, Any]) -> Selection:
    """The query a periodic (``timeInterval``) subscription runs each time it is due."""
    sel = Selection()
    for item in sub.get("entities", []):
        types = _types(item["typeExpr"]) if "typeExpr" in item else \
            _types(item["type"]) if "type" in item else None
        sel.selectors.append(EntitySelector(id=item.get("id"), id_pattern=item.get("idPattern"),
                                            types=types))
    if "q" in sub:
        sel.q = _q(q_text(sub["q"]))
    if "scopeQ" in sub:
        sel.scope_q = _scope_q(sub["scopeQ"])
    if "geoQ" in sub:
        sel.geo = _geo(sub)
    return sel
