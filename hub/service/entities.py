"""Entity operations, each run inside the caller's transaction (GS CIM 009 5.6, 5.7).

Single-entity and batch endpoints call the same functions, so a rule is implemented once.
The read-modify-write operations never lose a concurrent writer's change, from this or
another hub process: inside a transaction they lock the row (``FOR UPDATE``); outside one
(a single entity's write, ``hub/api/tx.py`` ``rewrite``) they write back only the row
version they read, and raise ``EntityChanged`` when it has changed since.
"""

from __future__ import annotations

from itertools import compress
from typing import Any

import asyncpg

from hub.errors import AlreadyExists, BadRequestData, ResourceNotFound
from hub.jsonld.active import ActiveContext
from hub.ngsild import merge as rules
from hub.ngsild.attributes import DELETE, is_deletion
from hub.ngsild.entity import EntityDoc
from hub.query.geo import GeoQuery
from hub.service import access
from hub.service.ownership import WriteGuard, keep_provenance
from hub.service.selection import Selection, build_filter
from hub.store import entities as store

__all__ = [
    "EntityChanged",
    "append",
    "create",
    "delete",
    "delete_attribute",
    "merge",
    "partial_update_attribute",
    "query",
    "replace",
    "replace_attribute",
    "retrieve",
    "update_attributes",
]

Entity = dict[str, Any]


class EntityChanged(Exception):
    """An entity read with its version was changed or deleted before it was written back
    (``store.write_entities(versioned=True)`` wrote nothing): the read-modify-write starts
    again (``hub/api/tx.py`` ``rewrite``). Never answered to a client."""
SCOPE_IRI = "https://uri.etsi.org/ngsi-ld/scope"


def new_entity(doc: EntityDoc, now: str) -> Entity:
    return {
        "id": doc.id,
        "types": doc.types,
        "scopes": doc.scopes,
        "attrs": doc.attrs,
        "createdAt": now,
        "modifiedAt": now,
    }


async def create(con: asyncpg.Connection, schema: str, doc: EntityDoc, now: str,
                 *, guard: WriteGuard) -> None:
    guard.check_payload(doc.attrs)
    ent = new_entity(doc, now)
    guard.settle(ent, now)
    written = await store.write_entities(con, schema, [ent], create_only=True)
    if doc.id not in written:
        raise AlreadyExists(f"entity {doc.id} already exists")


async def _load(con: asyncpg.Connection, schema: str, entity_id: str) -> Entity:
    """The stored entity a write changes: locked inside a transaction, else with its row
    version (module docstring). Visibility comes before any other answer: one the caller
    may not see is "not found" exactly like a missing one (a 403 would tell it exists);
    one it sees but does not own is refused by the write guard."""
    locked = con.is_in_transaction()
    ent = await store.fetch_entity(con, schema, entity_id, for_update=locked,
                                   versioned=not locked)
    if ent is None or access.visible(ent, audit=False) is None:
        raise ResourceNotFound(f"entity {entity_id} not found")
    return ent


async def _save(con: asyncpg.Connection, schema: str, ent: Entity, now: str,
                guard: WriteGuard) -> None:
    ent["modifiedAt"] = now
    guard.settle(ent, now)
    versioned = store.VERSION in ent
    written = await store.write_entities(con, schema, [ent], create_only=False,
                                         versioned=versioned)
    if versioned and not written:
        raise EntityChanged(ent["id"])


async def retrieve(con: asyncpg.Connection, schema: str, entity_id: str) -> Entity:
    """5.7.1; an entity the caller may not see is not found (hub/service/access.py)."""
    return access.require_visible(await store.fetch_entity(con, schema, entity_id), entity_id)


async def replace(con: asyncpg.Connection, schema: str, doc: EntityDoc, now: str,
                  *, guard: WriteGuard) -> None:
    """5.6.18: everything but id, createdAt and the hub's provenance is replaced."""
    guard.check_payload(doc.attrs)
    ent = await _load(con, schema, doc.id)
    ent["types"], ent["scopes"] = doc.types, doc.scopes
    ent["attrs"] = keep_provenance(ent["attrs"], doc.attrs)
    await _save(con, schema, ent, now, guard)


def apply_merge(ent: Entity, doc: EntityDoc, now: str) -> None:
    if doc.types:
        ent["types"] = list(dict.fromkeys([*ent["types"], *doc.types]))
    if doc.scopes is not None:
        ent["scopes"] = doc.scopes
    rules.merge_attrs(ent["attrs"], doc.attrs, now)


async def merge(con: asyncpg.Connection, schema: str, doc: EntityDoc, now: str,
                *, guard: WriteGuard) -> None:
    """5.6.17 merge-patch of an entity."""
    guard.check_payload(doc.attrs)
    ent = await _load(con, schema, doc.id)
    apply_merge(ent, doc, now)
    await _save(con, schema, ent, now, guard)


async def append(
    con: asyncpg.Connection, schema: str, doc: EntityDoc, now: str, *, no_overwrite: bool,
    guard: WriteGuard,
) -> tuple[list[str], rules.NotUpdated]:
    """5.6.3: add attributes (and types); existing ones are overwritten unless noOverwrite."""
    guard.check_payload(doc.attrs)
    ent = await _load(con, schema, doc.id)
    if doc.types:
        ent["types"] = list(dict.fromkeys([*ent["types"], *doc.types]))
    if doc.scopes is not None:
        ent["scopes"] = (list(dict.fromkeys([*(ent["scopes"] or []), *doc.scopes]))
                         if no_overwrite else doc.scopes)
    updated, skipped = rules.append_attrs(ent["attrs"], doc.attrs, no_overwrite=no_overwrite)
    await _save(con, schema, ent, now, guard)
    return updated, skipped


async def update_attributes(
    con: asyncpg.Connection, schema: str, doc: EntityDoc, now: str, *, guard: WriteGuard
) -> tuple[list[str], rules.NotUpdated]:
    """5.6.2: update existing attributes only; NGSI-LD null deletes (4.5.0)."""
    guard.check_payload(doc.attrs)
    ent = await _load(con, schema, doc.id)
    deletions = {k for k, v in doc.attrs.items() if v is DELETE}
    updated: list[str] = []
    skipped: rules.NotUpdated = []
    for iri in deletions:
        if ent["attrs"].pop(iri, None) is not None:
            updated.append(iri)
        else:
            skipped.append((iri, "attribute does not exist"))
    more, more_skipped = rules.update_attrs(
        ent["attrs"], {k: v for k, v in doc.attrs.items() if k not in deletions}
    )
    updated += more
    skipped += more_skipped
    if doc.types:
        ent["types"] = list(dict.fromkeys([*ent["types"], *doc.types]))
        updated.append("type")
    if doc.scopes is not None:
        if ent["scopes"]:
            ent["scopes"] = doc.scopes
            updated.append("scope")
        else:
            skipped.append(("scope", "the entity has no scope to update"))
    if updated:
        await _save(con, schema, ent, now, guard)
    return updated, skipped


async def partial_update_attribute(
    con: asyncpg.Connection, schema: str, entity_id: str, iri: str,
    patch: list[dict[str, Any]], now: str, *, guard: WriteGuard,
) -> None:
    """5.6.4: the given members of the instance (matched by datasetId) are changed."""
    guard.check_attribute(iri)
    ent = await _load(con, schema, entity_id)
    current = ent["attrs"].get(iri)
    if not current:
        raise ResourceNotFound(f"attribute {iri} not found in {entity_id}")
    for inst in patch:
        ds = inst.get("datasetId")
        idx = next((i for i, c in enumerate(current) if c.get("datasetId") == ds), -1)
        if idx < 0:
            raise ResourceNotFound(f"no instance of {iri} with datasetId {ds}")
        if inst.get("type") and inst["type"] != current[idx].get("type"):
            raise BadRequestData(
                f"{iri} is a {current[idx].get('type')}, the update gives a {inst['type']}"
            )
        if is_deletion(inst):
            del current[idx]
        else:
            current[idx] = rules.merge_instance(current[idx], inst, now)
    if not current:
        del ent["attrs"][iri]
    await _save(con, schema, ent, now, guard)


async def replace_attribute(
    con: asyncpg.Connection, schema: str, entity_id: str, iri: str,
    instances: list[dict[str, Any]], now: str, *, guard: WriteGuard,
) -> None:
    """5.6.19: the attribute (per datasetId) is replaced as a whole."""
    guard.check_attribute(iri)
    ent = await _load(con, schema, entity_id)
    current = ent["attrs"].get(iri)
    if not current:
        raise ResourceNotFound(f"attribute {iri} not found in {entity_id}")
    for inst in instances:
        if not any(c.get("datasetId") == inst.get("datasetId") for c in current):
            raise ResourceNotFound(f"no instance of {iri} with datasetId {inst.get('datasetId')}")
    rules.append_attrs(ent["attrs"], {iri: instances}, no_overwrite=False)
    await _save(con, schema, ent, now, guard)


async def delete_attribute(
    con: asyncpg.Connection, schema: str, entity_id: str, iri: str,
    dataset_id: str | None, delete_all: bool, now: str, *, guard: WriteGuard,
) -> None:
    guard.check_attribute(iri)
    ent = await _load(con, schema, entity_id)
    if iri == SCOPE_IRI and ent["scopes"]:
        ent["scopes"] = None
    elif not rules.delete_attr(ent["attrs"], iri, dataset_id, delete_all=delete_all):
        raise ResourceNotFound(f"attribute {iri} not found in {entity_id}")
    await _save(con, schema, ent, now, guard)


async def delete(con: asyncpg.Connection, schema: str, entity_id: str) -> None:
    refused = await access.refuse_deletes(con, schema, [entity_id])
    if refused:
        raise refused[entity_id]
    if not await store.delete_entities(con, schema, [entity_id]):
        raise ResourceNotFound(f"entity {entity_id} not found")


#: the first chunk of geo candidates read for a page: the page and a quarter more (at
#: least ``GEO_MARGIN``), since the bounding-box candidates mostly pass the exact test (a
#: box polygon: all of them; a circle: ~79 %); a short chunk is followed by a chunk twice
#: as large. Each candidate read costs a walk of 1/selectivity entities when the
#: candidates are dense (10 % of 200,000: ~640 entities for 64 candidates)
GEO_MARGIN = 8


async def query(
    con: asyncpg.Connection, schema: str, sel: Selection, ctx: ActiveContext,
    *, limit: int, offset: int, count: bool, action: str = "read",
) -> tuple[list[Entity], int | None]:
    """Entities matching ``sel`` in a stable order, and their total when ``count``; only
    those the caller may see (``action`` write: may change; subscribe: may be notified
    of), filtered in SQL. ``read`` rows come cut to the readable attributes; the others
    come in their stored form, for the caller to cut (``access.visible``)."""
    access.restrict(sel, ctx, action)
    flt = build_filter(sel, ctx, schema)
    if sel.geo is None:
        rows = await store.fetch_entities(con, schema, flt, limit, offset) if limit else []
        total = await store.count_entities(con, schema, flt) if count else None
        return (access.visible_rows(rows) if action == "read" else rows), total
    # geo: the bbox index pre-filters, the exact predicate runs here; then paginate
    if flt.order:  # every match, sorted in SQL: the chunks come in pk order
        matching = await _geo_matches(con, schema, sel, ctx, flt, None)
        pks = [pk for pk, _ in matching]
        rows = await store.fetch_ordered(con, schema, flt, pks, limit, offset) if (
            limit and pks) else []
        total = len(matching) if count else None
    elif count:
        matching = await _geo_matches(con, schema, sel, ctx, flt, None)
        page = [pk for pk, _ in matching[offset:offset + limit]] if limit else []
        rows = await store.fetch_by_pks(con, schema, page) if page else []
        total = len(matching)
    else:
        matching = await _geo_matches(con, schema, sel, ctx, flt, offset + limit) if (
            limit) else []
        rows = [store.text_row_to_entity(row) for _, row in matching[offset:offset + limit]
                if row is not None]
        total = None
    return (access.visible_rows(rows) if action == "read" else rows), total


async def _geo_matches(
    con: asyncpg.Connection, schema: str, sel: Selection, ctx: ActiveContext,
    flt: store.Filter, wanted: int | None,
) -> list[tuple[int, asyncpg.Record | None]]:
    """(pk, row) passing ``flt`` and the exact geo predicate, in pk order: all of them
    with no row (a count), or (when ``wanted`` is given) at least the first ``wanted``
    with their rows (``store.geo_candidates``), read in pk-ordered chunks that double
    until the page is full, so a page costs about its size, not the candidates', and no
    second statement (the caller's repeatable-read snapshot keeps the chunks
    consistent)."""
    assert sel.geo is not None
    geo = sel.geo
    attr = ctx.expand(geo.geoproperty) if geo.geoproperty else (
        "https://uri.etsi.org/ngsi-ld/location")
    if wanted is None and flt.geo_driver is not None:
        return [(pk, None) for pk in await _geo_match_all(con, schema, geo, flt, attr)]
    matching: list[tuple[int, asyncpg.Record | None]] = []
    chunk = None if wanted is None else wanted + max(GEO_MARGIN, wanted // 4)
    after: int | None = None
    while True:
        rows = await store.geo_candidates(con, schema, flt, attr, after=after, limit=chunk,
                                          rows=wanted is not None)
        found = _geo_hits(geo, [(pk, instances) for pk, instances, _ in rows])
        matching.extend((pk, ent) for pk, _, ent in rows if pk in found)
        if chunk is None or wanted is None or len(matching) >= wanted or len(rows) < chunk:
            return matching
        after, chunk = rows[-1][0], chunk * 2


async def _geo_match_all(con: asyncpg.Connection, schema: str, geo: GeoQuery,
                         flt: store.Filter, attr: str) -> list[int]:
    """The pks of every match, in order: the Points tested together from their geo rows,
    the entities with any other geometry in the box from their stored values
    (``store.geo_rows``)."""
    pks, xs, ys, others = await store.geo_rows(con, schema, flt, attr)
    # in pk order already; an entity located twice has two rows
    found = dict.fromkeys(compress(pks, geo.matching_points(xs, ys)))
    rest = [pk for pk in others if pk not in found]
    if not rest:
        return list(found)
    found.update(dict.fromkeys(_geo_hits(geo, await store.geo_values(con, schema, attr, rest))))
    return sorted(found)


def _geo_hits(geo: GeoQuery, rows: list[tuple[int, list[dict[str, Any]]]]) -> set[int]:
    """The pks among ``rows`` (pk, instances of the geo attribute) with an instance the
    exact predicate holds for, tested together (``GeoQuery.matching``)."""
    located = [(pk, i.get("value")) for pk, instances in rows for i in instances
               if i.get("type") == "GeoProperty"]
    hits = geo.matching([value for _, value in located])
    return {pk for (pk, _), hit in zip(located, hits, strict=True) if hit}
