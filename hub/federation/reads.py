"""Federated reads: query (5.7.2), retrieve (5.7.1), /types and /attributes (5.7.5-5.7.8).

The API handlers stay as they are for a request no registration concerns (``plan_query``
and ``retrieve`` answer None after one cached look-up). Otherwise the local part and the
sources' parts are merged (hub/federation/merge.py) and every remote entity passes the
hub's access decision as data of the registration's owner (``admit``).

Pagination and count over the merged set: the local query and every source are asked
for the first ``offset + limit`` entities (never more than ``max_limit``), the union is
ordered local-first then by source in registration order, and the page cut from it. The
count is the local total plus the sources' totals for entities the hub does not hold
(a source entity also held locally is counted once when it is in the fetched window;
beyond the window an overlap cannot be seen, so the count may exceed the merged set by
the overlap — stated in docs/architecture.md "Federation").
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from hub import keys
from hub.errors import BadRequestData
from hub.federation.forward import (
    Failure,
    Federation,
    Registration,
    federation_of,
    warning_header,
)
from hub.federation.ld_source import LdSource
from hub.federation.merge import fill_missing, from_full_iri, merge_into
from hub.federation.qnames import map_q_names
from hub.federation.registration import matches_query
from hub.federation.sources import SourceAnswer, SourceQuery
from hub.query.qlang import parse_q
from hub.service import access
from hub.service.catalogue import DATASET_IRI, DATASET_PREFIX, entity_dataset

__all__ = ["QueryPlan", "active_for", "admit", "candidate_datasets", "context_url_of",
           "federated_query",
           "owner_dataset", "plan_query", "retrieve", "stamp"]

Entity = dict[str, Any]
EXCLUSIVE = frozenset({"exclusive", "redirect"})


def context_url_of(rc: Any) -> str | None:
    raw = rc.raw
    if isinstance(raw, str):
        return raw
    if isinstance(raw, list) and len(raw) == 1 and isinstance(raw[0], str):
        return raw[0]
    return None


def active_for(rc: Any) -> Any:
    """Compact towards a source with the caller's context only when it can be named by
    URL (the source must be able to load it); otherwise full IRIs and the core."""
    return rc.active if context_url_of(rc) is not None else None


def owner_dataset(index: Any, owner: str, entity_id: str, types: Any) -> tuple[str, bool]:
    """The dataset a remote entity from ``owner``'s registration is data of: ``owner``'s
    dataset whose rule covers it, else ``owner``'s default one; and whether another
    organisation's dataset claims that id or type (the entity is then not ``owner``'s to
    speak for: reads keep it apart from the claimant's, notifications drop it)."""
    ds = index.owning_dataset(entity_id, types)
    claimed = ds is not None and ds.owner != owner
    if ds is None or claimed:
        ds = index.defaults.get(owner)
    return (ds.id if ds is not None else f"default-{owner}"), claimed


def candidate_datasets(index: Any, owner: str, type_iri: str | None) -> list[str]:
    """The datasets ``owner_dataset`` could give a remote entity of ``type_iri`` (None:
    of any type) when its id is not known yet (names, subscriptions): each of the
    owner's datasets whose rule admits the type, and the owner's default one."""
    out = [d.id for d in index.by_id.values()
           if d.owner == owner and not d.rule.owner_default
           and (type_iri is None or not d.rule.entity_types
                or type_iri in d.rule.entity_types)]
    default = index.defaults.get(owner)
    out.append(default.id if default is not None else f"default-{owner}")
    return out


def stamp(ent: Entity, dataset: str) -> None:
    """Mark ``ent`` (stored form) as data of ``dataset``, as a stored entity is."""
    ent["attrs"][DATASET_IRI] = [{"type": "Relationship", "object": DATASET_PREFIX + dataset}]


async def admit(request: web.Request, fed: Federation, reg: Registration,
                ent: Entity) -> Entity | None:
    """``ent`` (a remote entity in stored form) as the caller may see it, or None: the
    same per-entity decision and attribute stripping as stored data, with the entity
    treated as data of the registration's owner organisation."""
    if reg.owner is not None:
        index = await request.app[keys.REGISTRY_RULES].current()
        stamp(ent, owner_dataset(index, reg.owner, ent["id"], ent["types"])[0])
    elif not fed.dev:
        return None
    shown = access.visible(ent)
    if shown is None:
        return None
    shown = {**shown, "attrs": {k: v for k, v in shown["attrs"].items() if k != DATASET_IRI}}
    ent["attrs"].pop(DATASET_IRI, None)
    return shown


async def local_owners(request: web.Request, fed: Federation) -> Any:
    """``owner(entity) -> organisation`` for entities held here, or None in development
    mode (no owners to keep apart).

    A source adds to an entity held here only when its registration's owner is the
    organisation that owns that entity: another organisation's registration, whatever its
    mode, can neither replace (exclusive, redirect, a newer ``observedAt``) nor extend
    what a municipality publishes under its own entity ids. Its answer for such an id is
    left out of the merge (docs/access-control.md, "Federation")."""
    if fed.dev:
        return None
    index = await request.app[keys.REGISTRY_RULES].current()

    def owner(ent: Entity) -> str | None:
        stamped = entity_dataset(ent)
        ds = (index.by_id.get(stamped) if stamped is not None
              else index.owning_dataset(ent["id"], ent.get("types") or []))
        return ds.owner if ds is not None else None

    return owner


def _plain_members(body: dict[str, Any]) -> dict[str, Any]:
    """A registration with its Context Source Properties given as ``{"type": "Property",
    "value": v}`` reduced to ``v``, as ``csf`` compares values (5.7.2.4)."""
    return {k: v["value"] if isinstance(v, dict) and v.get("type") == "Property"
            and "value" in v else v for k, v in body.items()}


def _csv(raw: str | None) -> list[str]:
    return [p.strip() for p in (raw or "").split(",") if p.strip()]


def _simple_types(raw: str | None) -> list[str] | None:
    """The names of a plain type list (``A,B`` or ``A|B``); None for a type expression
    with ``;`` or parentheses, which is not forwarded (a source may not support it)."""
    if raw is None:
        return []
    if any(c in raw for c in ";()"):
        return None
    return [t.strip() for t in raw.replace("|", ",").split(",") if t.strip()]


def _drop(fut: asyncio.Future[Any]) -> None:
    """Cancel work nobody will wait for, and take its outcome when it ends (an error it
    already had is not logged as "never retrieved": the request's own error is what
    counts)."""
    fut.cancel()
    fut.add_done_callback(lambda f: f.cancelled() or f.exception())


class QueryPlan:
    """One federated query: the registrations to ask and what to ask each."""

    def __init__(self, request: web.Request, fed: Federation, rc: Any,
                 asks: list[tuple[Registration, SourceQuery]], op: str = "queryEntity",
                 ) -> None:
        self.request, self.fed, self.rc, self.asks = request, fed, rc, asks
        #: the operation the caller used (queryEntity or queryBatch): sources that offer
        #: it are asked through it
        self.op = op
        self._asked: asyncio.Future[list[SourceAnswer | Failure]] | None = None

    def start(self) -> None:
        """Ask the sources now, while the caller runs the local query: the answer then
        waits for the slowest of them, not for the local query plus the slowest (measured
        by bench/federation.py). Idempotent; ``cancel`` drops the calls."""
        if self._asked is not None:
            return
        fed, request = self.fed, self.request
        ctx_url, active = context_url_of(self.rc), active_for(self.rc)

        async def ask(reg: Registration, q: SourceQuery) -> SourceAnswer:
            return await _query_source(request, fed, reg, q, ctx_url, active, self.op)

        self._asked = asyncio.ensure_future(asyncio.gather(
            *(fed.guarded(reg, functools.partial(ask, reg, q)) for reg, q in self.asks)))

    def cancel(self) -> None:
        if self._asked is not None:
            _drop(self._asked)

    async def run(self, local: list[Entity], local_total: int | None, *, offset: int,
                  limit: int, count: bool) -> tuple[list[Entity], int | None, dict[str, str]]:
        """Merge the local rows (the first ``offset + limit``) with the sources' answers:
        the page, the total (when ``count``) and headers to add."""
        fed, request = self.fed, self.request
        self.start()
        assert self._asked is not None
        answers = await self._asked
        failures = [a for a in answers if isinstance(a, Failure)]
        merged: dict[str, Entity] = {e["id"]: e for e in local}
        order = [e["id"] for e in local]
        owner_of = await local_owners(request, fed)
        #: whose each merged entity is (None: development mode, no owners)
        owners: dict[str, str | None] = (
            {e["id"]: owner_of(e) for e in local} if owner_of is not None else {})
        extra_total = 0
        auxiliary: list[tuple[Registration, Entity]] = []
        for (reg, _q), answer in zip(self.asks, answers, strict=True):
            if isinstance(answer, Failure):
                continue
            new_ids = 0
            for raw in answer.entities:
                ent = await admit(request, fed, reg, from_full_iri(raw))
                if ent is None:
                    continue
                if reg.mode == "auxiliary":
                    auxiliary.append((reg, ent))
                    continue
                held = merged.get(ent["id"])
                if held is None:
                    merged[ent["id"]] = ent
                    order.append(ent["id"])
                    owners[ent["id"]] = reg.owner
                    new_ids += 1
                elif owner_of is None or owners.get(ent["id"]) == reg.owner:
                    merge_into(held, ent, exclusive=reg.mode in EXCLUSIVE,
                               owned=reg.owned_attrs(ent["id"], ent["types"]))
                # else: another organisation's entity; the source's version is left out
            if count:
                overlap = len(answer.entities) - new_ids
                extra_total += max((answer.total if answer.total is not None
                                    else len(answer.entities)) - overlap, 0)
        for reg, ent in auxiliary:
            held = merged.get(ent["id"])
            if held is None:
                merged[ent["id"]] = ent
                order.append(ent["id"])
                owners[ent["id"]] = reg.owner
                extra_total += 1
            elif owner_of is None or owners.get(ent["id"]) == reg.owner:
                fill_missing(held, ent)
        page = [merged[i] for i in order[offset:offset + limit]]
        total = (local_total or 0) + extra_total if count else None
        return page, total, warning_header(failures)


async def plan_query(request: web.Request, rc: Any, schema: str,
                     query: Mapping[str, str]) -> QueryPlan | None:
    """The federated plan of GET /entities, or None: answer locally as always."""
    fed = federation_of(request.app)
    if not fed.enabled or query.get("local") == "true" or fed.via_names_me(request):
        return None
    regs = await fed.registrations(request, schema)
    if not regs:
        return None
    types_raw = _simple_types(query.get("type"))
    if types_raw is None:
        return None
    active = rc.active
    if "csf" in query:
        csf = parse_q(query["csf"])
        regs = [r for r in regs if matches_query(_plain_members(r.raw), selectors=None,
                                                 attrs=None, csf=csf, expand=active.expand)]
    split = query.get("splitEntities") == "true"
    types = [active.expand(t) for t in types_raw]
    ids = _csv(query.get("id"))
    pattern = query.get("idPattern")
    attrs = [active.expand(a) for a in _csv(query.get("attrs"))]
    # 5.7.2.4: with splitEntities the filters are applied to the merged entities only
    q = map_q_names(query["q"], active.expand) if "q" in query and not split else None
    scope_q = query.get("scopeQ") if not split else None
    settings = request.app[keys.SETTINGS]
    window = min(int(query.get("offset", "0") or 0) + int(
        query.get("limit", str(settings.default_limit)) or 0), settings.max_limit)
    asks: list[tuple[Registration, SourceQuery]] = []
    for reg in regs:
        if not (reg.allows("queryEntity") or reg.allows("queryBatch")):
            continue
        for info in reg.information:
            if not _info_matches(info, types, ids, attrs):
                continue
            reg_types = {t for s in info.entities for t in s.types}
            reg_ids = [s.id for s in info.entities if s.id]
            ask_types = [t for t in types if not reg_types or t in reg_types] or sorted(
                reg_types)
            ask_ids = [i for i in ids if not reg_ids or i in reg_ids] if ids else reg_ids
            if info.attrs is not None:
                ask_attrs = [a for a in attrs if a in info.attrs] if attrs else sorted(
                    info.attrs)
            else:
                ask_attrs = attrs
            asks.append((reg, SourceQuery(
                types=tuple(ask_types), ids=tuple(ask_ids), id_pattern=pattern,
                attrs=tuple(ask_attrs), q=q, limit=max(window, 1), offset=0,
                count=query.get("count") == "true", scope_q=scope_q)))
            break
    if not asks:
        return None
    if "orderBy" in query:  # the merged set has no order the sources could agree on
        raise BadRequestData("orderBy is not supported by a query that context source "
                             "registrations distribute (use local=true)")
    op = "queryBatch" if request.path.rstrip("/").endswith("/entityOperations/query") \
        else "queryEntity"
    return QueryPlan(request, fed, rc, asks, op)


def _info_matches(info: Any, types: list[str], ids: list[str], attrs: list[str]) -> bool:
    if info.entities:
        ok = False
        for sel in info.entities:
            if types and sel.types and not (sel.types & set(types)):
                continue
            if ids and not any(sel.matches(i, ()) for i in ids):
                continue
            ok = True
            break
        if not ok:
            return False
    return not (attrs and info.attrs is not None and not (set(attrs) & info.attrs))


async def _query_source(request: web.Request, fed: Federation, reg: Registration,
                        q: SourceQuery, ctx_url: str | None, active: Any,
                        op: str = "queryEntity") -> SourceAnswer:
    """A query through the operation the registration allows: the one the caller used
    (``op``) when the registration offers it, else queryEntity (GET /entities), else
    queryBatch (POST /entityOperations/query, NGSI-LD sources only)."""
    src = fed.source_for(reg)
    target = fed.target(request, reg, ctx_url, active)
    http = request.app[keys.HTTP]
    batch = reg.allows("queryBatch") if op == "queryBatch" else not reg.allows("queryEntity")
    if batch and isinstance(src, LdSource):
        return await src.query_batch(http, target, q)
    return await src.query(http, target, q)


async def retrieve(request: web.Request, rc: Any, schema: str, entity_id: str,
                   load_local: Callable[[], Awaitable[Entity | None]], attrs: list[str],
                   ) -> tuple[Entity | None, dict[str, str]]:
    """The federated retrieval of one entity (5.7.1): what ``load_local`` finds here (None:
    not held here) merged with what matching sources hold, and the headers to add. The
    sources are asked while the local entity is read, so the answer waits for the slowest
    of them only. A registration that allows only queryEntity or queryBatch is asked by a
    query for the id."""
    fed = federation_of(request.app)
    if not fed.enabled or request.query.get("local") == "true" or fed.via_names_me(request):
        return await load_local(), {}
    regs = [r for r in await fed.registrations(request, schema)
            if (r.allows("retrieveEntity") or r.allows("queryEntity")
                or r.allows("queryBatch"))
            and any(_info_matches(i, [], [entity_id], attrs) for i in r.information)]
    if not regs:
        return await load_local(), {}
    reading = asyncio.ensure_future(load_local())
    ctx_url, active = context_url_of(rc), active_for(rc)

    async def ask(reg: Registration) -> dict[str, Any] | None:
        owned = reg.owned_attrs(entity_id, ())
        wanted = tuple(a for a in attrs if owned is None or a in owned) if attrs else (
            tuple(sorted(owned)) if owned else ())
        if not reg.allows("retrieveEntity"):
            types = sorted({t for i in reg.information for s in i.entities for t in s.types})
            answer = await _query_source(request, fed, reg, SourceQuery(
                types=tuple(types), ids=(entity_id,), attrs=wanted, limit=1), ctx_url, active)
            return next((e for e in answer.entities if e.get("id") == entity_id), None)
        target = fed.target(request, reg, ctx_url, active)
        return await fed.source_for(reg).retrieve(request.app[keys.HTTP], target,
                                                  entity_id, wanted)

    try:
        answers = await asyncio.gather(*(fed.guarded(r, functools.partial(ask, r))
                                          for r in regs))
        local = await reading
    except BaseException:
        _drop(reading)
        raise
    failures = [a for a in answers if isinstance(a, Failure)]
    held = local
    owner_of = await local_owners(request, fed)
    held_by = owner_of(local) if owner_of is not None and local is not None else None
    aux: list[tuple[str | None, Entity]] = []
    for reg, answer in zip(regs, answers, strict=True):
        if isinstance(answer, Failure) or answer is None:
            continue
        ent = await admit(request, fed, reg, from_full_iri(answer))
        if ent is None or ent["id"] != entity_id:
            continue
        if owner_of is not None and held is not None and held_by != reg.owner:
            continue  # another organisation's source does not change this entity
        if reg.mode == "auxiliary":
            aux.append((reg.owner, ent))
        elif held is None:
            held, held_by = ent, reg.owner
        else:
            merge_into(held, ent, exclusive=reg.mode in EXCLUSIVE,
                       owned=reg.owned_attrs(entity_id, ent["types"]))
    for owner, ent in aux:
        if held is None:
            held, held_by = ent, owner
        elif owner_of is None or held_by == owner:
            fill_missing(held, ent)
    return held, warning_header(failures)


def federated_query(body: dict[str, Any], query: Mapping[str, str]) -> dict[str, str] | None:
    """A POST /entityOperations/query body (5.2.23) as the GET parameters ``plan_query``
    takes, or None when it has no such form (several entity selectors: answered locally)."""
    out = {k: v for k, v in query.items() if k in ("limit", "offset", "count", "local")}
    entities = body.get("entities")
    if isinstance(entities, list):
        if len(entities) > 1:
            return None
        for sel in entities:
            for key in ("type", "id", "idPattern"):
                if isinstance(sel.get(key), str):
                    out[key] = sel[key]
    attrs = body.get("attrs")
    if isinstance(attrs, list):
        out["attrs"] = ",".join(a for a in attrs if isinstance(a, str))
    for key in ("q", "scopeQ", "csf"):
        if isinstance(body.get(key), str):
            out[key] = body[key]
    return out
