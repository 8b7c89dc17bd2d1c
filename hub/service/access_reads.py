"""What a caller may read: the SQL conditions and per-entity decisions of the enforcement
point (``hub.service.access`` is its request-level half and re-exports these).

- ``restrict(sel, ctx)``: one more SQL condition on a query, so ``limit``, ``offset`` and
  ``count`` are computed over what the caller may see, and attributes named in ``q``,
  ``scopeQ``, ``geoQ``, ``orderBy`` or ``attrs`` narrow the condition to data where the
  caller may read them (a query on a hidden attribute can neither match nor count hidden
  values); ``temporal_condition`` and ``aggregate_condition`` are the same for the
  temporal representation and for aggregate queries;
- ``visible(ent)`` / ``require_visible(ent)`` / ``decide_stored``: the per-entity decision
  (the second check behind the SQL), attributes removed per grant, ``ResourceNotFound``
  rather than 403 so an invisible entity is indistinguishable from a missing one;
- ``may_see(caller, ent)``: for notification delivery, evaluated when sent, as the subscriber.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from authz.model import Consumer, Decision
from authz.policies import Defaults, ReadScope, aggregated_grants, decide
from hub.errors import Forbidden
from hub.jsonld.active import ActiveContext
from hub.query.qlang import And, Comparison, Exists, Match, Or, QExpr
from hub.service.access_caller import (
    Caller,
    audit_decision,
    catch_all_of,
    current,
    enforced,
    resource_of,
    scope_of,
)
from hub.service.access_state import AccessState, DatasetInfo
from hub.service.catalogue import (
    DATASET_IRI,
    DATASET_PREFIX,
    dataset_in,
    datasets_bound,
    entity_dataset,
)

__all__ = ["Source", "access_condition", "aggregate_condition", "decide_entity",
           "decide_stored", "entity_source", "may_see", "ordered_by", "referenced",
           "require_visible",
           "restrict", "sources", "subscribable", "temporal_condition", "visible",
           "visible_rows"]

SCOPE_IRI = "https://uri.etsi.org/ngsi-ld/scope"
LOCATION_IRI = "https://uri.etsi.org/ngsi-ld/location"


def referenced(q: QExpr | None, expand: Callable[[str], str]) -> set[str]:
    """The attributes a ``q`` expression reads (so access control can require them)."""
    if q is None:
        return set()
    if isinstance(q, (And, Or)):
        out: set[str] = set()
        for item in q.items:
            out |= referenced(item, expand)
        return out
    if isinstance(q, (Comparison, Match, Exists)):
        return set() if q.path.system else {expand(q.path.attr)}
    return set()


def ordered_by(order_by: str | None, expand: Callable[[str], str]) -> set[str]:
    """Ordering by an attribute reveals its values too: it counts as a reference."""
    out: set[str] = set()
    for item in (order_by or "").split(","):
        name = item.partition(";")[0].strip().split(".", 1)[0].split("[", 1)[0]
        if name and name not in ("id", "type", "createdAt", "modifiedAt"):
            out.add(expand(name))
    return out



def _allows(attrs: frozenset[str] | None, wanted: set[str]) -> bool:
    return attrs is None or wanted <= attrs


@dataclass(frozen=True, slots=True)
class Source:
    """One part of what a consumer may read: datasets (whole, or only ``type_iri`` in
    them), the attributes readable there (None = all), and its SQL (placeholders ``{}``)."""

    sql: str
    params: list[Any]
    attrs: frozenset[str] | None
    datasets: tuple[str, ...]
    type_iri: str | None = None
    #: ``sql`` is ``dataset_in`` of ``datasets`` and nothing else (``access_condition``
    #: unites such sources into one list)
    only_datasets: bool = False


def sources(scope: ReadScope, datasets: dict[str, DatasetInfo],
             alias: str, dataset_column: str | None = None) -> list[Source]:
    """What ``scope`` may read as conditions on the row ``alias``; whole datasets first.

    The row's dataset is its ``refDataset`` stamp, or for tables that keep the owning
    dataset in a column of their own (the temporal representation), ``dataset_column``.
    """
    column = f"{alias}.{dataset_column or 'dataset'}"
    catch_all = catch_all_of(datasets)

    def among(ids: list[str]) -> str:
        return dataset_in(column, catch_all, ids)
    whole = {d.id for d in datasets.values() if d.open_data or d.owner == scope.own_org}
    out: list[Source] = []
    # the default read, except where a grant in force decides instead (as ``decide``
    # does): datasets under a dataset grant, and an owner's entities of a granted type
    default = [d for d in datasets.values()
               if scope.default_read and not d.personal_data and d.id not in whole
               and d.id not in scope.granted_datasets]
    granted_types: dict[str, list[str]] = {}
    for owner, type_iri in scope.granted_types:
        granted_types.setdefault(owner, []).append(type_iri)
    whole |= {d.id for d in default if d.owner not in granted_types}
    for owner, types in sorted(granted_types.items()):
        ids = sorted(d.id for d in default if d.owner == owner)
        if ids:
            out.append(Source(f"({among(ids)} AND NOT ({alias}.types && {{}}::text[]))",
                              [ids, sorted(types)], None, tuple(ids)))
    # a grant never makes personal data readable raw, even one approved before its
    # dataset became personal (only its owner reads it raw; aggregates go elsewhere)
    granted = {d: attrs for d, attrs in scope.datasets.items()
               if not (d in datasets and datasets[d].personal_data)}
    whole |= {d for d, attrs in granted.items() if attrs is None}
    if whole:
        out.insert(0, Source(among(sorted(whole)), [sorted(whole)], None,
                             tuple(sorted(whole)), only_datasets=True))
    for d, attrs in sorted(granted.items()):
        if d not in whole:
            out.append(Source(among([d]), [[d]], attrs, (d,), only_datasets=True))
    for (owner, type_iri), attrs in sorted(scope.owner_types.items()):
        typed = _typed_source(column, catch_all, alias, datasets, owner, type_iri, attrs)
        if typed is not None:
            out.append(typed)
    return out


def _typed_source(column: str, catch_all: str | None, alias: str,
                  datasets: dict[str, DatasetInfo], owner: str, type_iri: str,
                  attrs: frozenset[str] | None, *, aggregated: bool = False) -> Source | None:
    """An owner's entities of one type IRI (None when the owner has no such dataset).

    Personal data is never raw: unless the source is for an ``aggregated`` grant, the
    owner's personal-data datasets are left out, whatever the grant was approved for
    (a dataset may become personal later)."""
    owned = sorted(d.id for d in datasets.values()
                   if d.owner == owner and (aggregated or not d.personal_data))
    if not owned:
        return None
    return Source(f"({dataset_in(column, catch_all, owned)} AND {alias}.types @>"
                  " ARRAY[{}::text])", [owned, type_iri], attrs, tuple(owned), type_iri)


def _aggregated_sources(caller: Caller, alias: str) -> list[tuple[Source, int]]:
    """What the caller may see only aggregated, each with its minimum group size."""
    assert caller.state is not None
    datasets = caller.state.datasets
    column, catch_all = f"{alias}.dataset", catch_all_of(datasets)
    grants = aggregated_grants(caller.consumer, "read", now=datetime.now(UTC),
                               grants=caller.state.grants_by_org.get(
                                   caller.consumer.organisation or "", []))
    out: list[tuple[Source, int]] = []
    for g in grants:
        attrs = frozenset(g.attributes) if g.attributes is not None else None
        k = max(g.min_group_size or 2, 2)
        if g.dataset is not None:
            out.append((Source(dataset_in(column, catch_all, [g.dataset]), [[g.dataset]],
                               attrs, (g.dataset,)), k))
        elif g.entity_type is not None:
            typed = _typed_source(column, catch_all, alias, datasets, g.owner_org,
                                  g.entity_type, attrs, aggregated=True)
            if typed is not None:
                out.append((typed, k))
    return out


def aggregate_condition(wanted: set[str]) -> tuple[tuple[str, list[Any]] | None, int | None]:
    """For an aggregate query (hub/api/aggregates.py) that groups, measures or filters
    on ``wanted``: the SQL condition (placeholders ``{}``; None when unrestricted) over
    what the caller may read raw or only aggregated, and the minimum group size the
    answer must respect (None: no aggregated-only data takes part). When both kinds take
    part, the largest minimum applies to every group, since a group may mix them."""
    caller = current()
    if (state := enforced(caller)) is None:
        return None, None
    raw = [s for s in sources(scope_of(caller, "read"), state.datasets, "e")
           if _allows(s.attrs, wanted)]
    agg = [(s, k) for s, k in _aggregated_sources(caller, "e") if _allows(s.attrs, wanted)]
    parts = [s.sql for s in raw] + [s.sql for s, _ in agg]
    params = [p for s in raw for p in s.params] + [p for s, _ in agg for p in s.params]
    k = max((k for _, k in agg), default=None)
    audit_decision(caller, None, bool(parts), "aggregate" if agg else "filter",
           target=f"aggregate, minimum group {k}" if k else "aggregate")
    return ((" OR ".join(parts) if parts else "FALSE"), params), k



@dataclass(frozen=True, slots=True)
class ReadCondition:
    """What a caller may read (``access_condition``)."""

    #: the SQL, placeholders ``{}`` for ``params``
    sql: str
    params: list[Any]
    #: the datasets read whole
    whole: frozenset[str]
    #: every dataset some part of ``sql`` reads: no row of another passes it
    bound: frozenset[str]


def access_condition(scope: ReadScope, datasets: dict[str, DatasetInfo],
                     wanted: set[str], alias: str = "e",
                     dataset_column: str | None = None) -> ReadCondition:
    """The SQL selecting what ``scope`` may read, where every attribute in ``wanted`` is
    readable, the datasets it reads whole and those it reads at all."""
    parts: list[str] = []
    params: list[Any] = []
    whole: list[str] = []
    bound: set[str] = set()
    for src in sources(scope, datasets, alias, dataset_column):
        if not _allows(src.attrs, wanted):
            continue
        bound.update(src.datasets)
        if src.only_datasets:
            whole.extend(src.datasets)
            continue
        parts.append(src.sql)
        params += src.params
    if whole:
        # the datasets read whole, as one list: a single condition on the column, which
        # an index on it answers alone (``entities_dataset``: a firm's count joins the
        # keys it returns), where ``OR`` of two lists took a bitmap scan of the heap
        ids = sorted(set(whole))
        column = f"{alias}.{dataset_column or 'dataset'}"
        parts.insert(0, dataset_in(column, catch_all_of(datasets), ids))
        params.insert(0, ids)
    return ReadCondition(" OR ".join(parts) if parts else "FALSE", params, frozenset(whole),
                         frozenset(bound))


def _numbered(sql: str, values: list[Any], params: list[Any]) -> str:
    numbers = []
    for v in values:
        params.append(v)
        numbers.append(f"${len(params)}")
    return sql.format(*numbers)


def entity_source(schema: str) -> tuple[str, list[Any]] | None:
    """For /types and /attributes: the entities table as the caller may see it (rows and
    attribute keys), as a subquery with parameters from ``$1``; None when unrestricted."""
    caller = current()
    if (state := enforced(caller)) is None:
        return None
    params: list[Any] = []
    conds, whens = [], []
    for src in sources(scope_of(caller, "read"), state.datasets, "x"):
        cond = _numbered(src.sql, src.params, params)
        conds.append(cond)
        if src.attrs is None:
            whens.append(f"WHEN {cond} THEN x.attrs")
        else:
            keys = _numbered("{}::text[]", [sorted(src.attrs)], params)
            whens.append(f"WHEN {cond} THEN (SELECT coalesce(jsonb_object_agg(k, v), '{{}}')"
                         f" FROM jsonb_each(x.attrs) AS kv(k, v) WHERE k = ANY({keys}))")
    if not conds:
        return f"(SELECT * FROM {schema}.entities WHERE FALSE)", []
    return (f"(SELECT x.pk, x.id, x.types, x.scopes, CASE {' '.join(whens)} END AS attrs"
            f" FROM {schema}.entities x WHERE {' OR '.join(conds)})", params)


def _readable_somewhere(scope: ReadScope, datasets: dict[str, DatasetInfo],
                        attr: str) -> bool:
    if any(d.open_data or d.owner == scope.own_org
           or (scope.default_read and not d.personal_data) for d in datasets.values()):
        return True
    return any(_allows(a, {attr}) for a in (*scope.datasets.values(),
                                            *scope.owner_types.values()))


def restrict(sel: Any, ctx: ActiveContext, action: str = "read") -> None:
    """Add the caller's access condition to a ``Selection`` (no-op in dev mode).

    ``action`` is ``write`` for purge, so it only ever touches the caller's own data.
    """
    caller = current()
    if (state := enforced(caller)) is None:
        return
    if action == "write":
        datasets = state.datasets
        own = sorted(d.id for d in datasets.values()
                     if caller.consumer.organisation and d.owner == caller.consumer.organisation)
        sel.access = (dataset_in("e.dataset", catch_all_of(datasets), own), [own])
        return
    wanted = set(sel.attrs) | referenced(sel.q, ctx.expand) | ordered_by(sel.order_by,
                                                                             ctx.expand)
    if sel.scope_q is not None:
        wanted.add(SCOPE_IRI)
    if sel.geo is not None:
        wanted.add(ctx.expand(sel.geo.geoproperty) if sel.geo.geoproperty else LOCATION_IRI)
    cond = _read_condition(caller, wanted, ctx, action, "e", None)
    sel.access = (cond.sql, cond.params)
    # at most half of the catalogue's datasets read whole, ``wanted`` included (a firm's
    # grants): a count joins the keys the condition passes. Not for one reading more
    # (the prefecture, all but personal data): joining every key took 2-3 times as long
    # as looking the candidates up (docs/architecture.md, "Query plans"). By datasets,
    # not entities, since that is what the process knows without asking PostgreSQL
    sel.access_partial = 2 * len(cond.whole & state.datasets.keys()) <= len(state.datasets)
    if sel.access_partial:
        # the index rows of the datasets the condition reads, so a candidate set holds
        # the caller's own candidates only (``store.entities.Filter.bind_datasets``)
        sel.access_bound = datasets_bound(catch_all_of(state.datasets), cond.bound)


def _read_condition(caller: Caller, wanted: set[str], ctx: ActiveContext, action: str,
                    alias: str, dataset_column: str | None) -> ReadCondition:
    """The caller's read condition on ``alias`` and the datasets it reads whole
    (``access_condition``); 403 when ``wanted`` names an attribute the caller may read
    nowhere (so a query cannot probe it)."""
    assert caller.state is not None
    datasets = caller.state.datasets
    scope = scope_of(caller, action)
    hidden = sorted(a for a in wanted if not _readable_somewhere(scope, datasets, a))
    if hidden:
        audit_decision(caller, None, False, "hidden-attribute", target=",".join(hidden))
        raise Forbidden("the query refers to attributes you may not read: "
                        + ", ".join(ctx.compact(a) for a in hidden))
    return access_condition(scope, datasets, wanted, alias, dataset_column)


def temporal_condition(attrs: set[str], ctx: ActiveContext) -> tuple[str, list[Any]] | None:
    """The read condition for a temporal query, on ``temporal_entities`` as ``t`` (which
    keeps the owning dataset in its ``dataset`` column); None when unrestricted."""
    caller = current()
    if enforced(caller) is None:
        return None
    cond = _read_condition(caller, attrs, ctx, "read", "t", "dataset")
    return cond.sql, cond.params


def decide_stored(entity_id: str, types: list[str], dataset: str | None,
                  action: str = "read") -> Decision:
    """The audited decision on an entity known by id, types and owning dataset (the
    temporal representation, which stores no provenance attributes)."""
    caller = current()
    if (state := enforced(caller)) is None:
        return Decision(True, "dev")
    ent = {"id": entity_id, "types": types,
           "attrs": {} if dataset is None else {DATASET_IRI: [{"object": DATASET_PREFIX
                                                                 + dataset}]}}
    decision = decide_entity(caller.consumer, ent, action, state, caller.defaults)
    audit_decision(caller, ent, decision.allowed, decision.rule, grant_id=decision.grant_id)
    return decision



def decide_entity(consumer: Consumer, ent: dict[str, Any], action: str, state: AccessState,
                  defaults: Defaults) -> Decision:
    grants = state.grants_by_org.get(consumer.organisation or "", [])
    return decide(consumer, resource_of(ent, state.datasets), action, grants=grants,
                  defaults=defaults, now=datetime.now(UTC))


def _strip(ent: dict[str, Any], attrs: frozenset[str] | None) -> dict[str, Any]:
    if attrs is None:
        return ent
    return {**ent, "attrs": {k: v for k, v in ent["attrs"].items() if k in attrs}}


def visible(ent: dict[str, Any], action: str = "read",
            audit: bool = True) -> dict[str, Any] | None:
    """The entity as the current caller may see it, or None."""
    return _seen_by(current(), ent, action, audit)


def _seen_by(caller: Caller, ent: dict[str, Any], action: str,
             audit: bool) -> dict[str, Any] | None:
    """The one per-entity decision: ``ent`` cut to what ``caller`` may ``action``, or
    None (development mode: as it is)."""
    if (state := enforced(caller)) is None:
        return ent
    decision = decide_entity(caller.consumer, ent, action, state, caller.defaults)
    if audit:
        audit_decision(caller, ent, decision.allowed, decision.rule, grant_id=decision.grant_id)
    return _strip(ent, decision.attributes) if decision.allowed else None


def require_visible(ent: dict[str, Any] | None, entity_id: str) -> dict[str, Any]:
    from hub.errors import ResourceNotFound

    shown = visible(ent) if ent is not None else None
    if shown is None:
        raise ResourceNotFound(f"entity {entity_id} not found")
    return shown


def visible_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of a query (already filtered in SQL): attributes stripped, one audit row per
    dataset touched rather than per entity."""
    caller = current()
    if (state := enforced(caller)) is None:
        return rows
    assert state is not None
    # one decision per (dataset, types): a page holds few distinct ones
    decided: dict[tuple[str | None, tuple[str, ...]], Decision] = {}
    out = []
    for r in rows:
        key = (entity_dataset(r, state.catch_all), tuple(r.get("types", ())))
        d = decided.get(key)
        if d is None:
            d = decided[key] = decide_entity(caller.consumer, r, "read", state,
                                             caller.defaults)
        if d.allowed:
            out.append(_strip(r, d.attributes))
    if out:
        per = Counter(entity_dataset(r, state.catch_all) for r in out)
        for ds, n in per.items():
            info = state.datasets.get(ds or "")
            audit_decision(caller, None, True, "filter", target=f"{n} entities",
                   owner=info.owner if info else None, dataset=ds)
    return out


def may_see(caller: Caller, ent: dict[str, Any]) -> dict[str, Any] | None:
    """For notification delivery, evaluated when a notification is sent with the
    subscriber's rights (``caller``, from ``subscriber_caller``): the entity as the
    subscriber may receive it now, or None. Every decision is audited."""
    return _seen_by(caller, ent, "subscribe", audit=True)


def subscribable(scope: ReadScope, datasets: dict[str, DatasetInfo], type_iri: str) -> bool:
    for src in sources(scope, datasets, "e"):
        if src.type_iri is not None:
            if src.type_iri == type_iri:
                return True
        elif any(not datasets[d].entity_types or type_iri in datasets[d].entity_types
                 for d in src.datasets if d in datasets):
            return True
    return False

