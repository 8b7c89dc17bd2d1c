"""All SQL for entities (docs/architecture.md, "Stored form of an entity").

Every write goes through ``write_entities``: one statement that upserts the entity rows and
maintains their value and geo index rows, so the indexes can never disagree with ``attrs``.
The batch travels as one typed array per column, which asyncpg sends in binary: PostgreSQL
takes the index rows apart without parsing any JSON (the earlier single ``json`` parameter
spent ~70 ms of a 1,000-entity statement in ``json_to_recordset`` and ``->>``), and only
``attrs`` is parsed, once, into ``jsonb``. Index rows of a replaced entity are rewritten only
when their fingerprint changed (``_write_sql``).
This module never opens a transaction: callers hold one, except a single entity's
versioned write (``write_entities(versioned=True)``), which is one statement.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from hashlib import blake2b
from typing import Any

import asyncpg
import orjson

from hub.jsonld.core import DEFAULT_VOCAB
from hub.ngsild.checks import utc_iso
from hub.query.geo import geojson_bbox, plain_point
from hub.query.orderby import DESCENDING
from hub.query.qlang_sql import EITHER, PROBE, Bound
from hub.query.values import TXT_PREFIX, index_rows

__all__ = [
    "VERSION",
    "Filter",
    "count_entities",
    "delete_entities",
    "fetch_entities",
    "fetch_entity",
    "geo_candidates",
    "geo_gate",
    "geo_rows",
    "geo_values",
    "row_to_entity",
    "text_row_to_entity",
    "write_entities",
]

_COLUMNS = "e.pk, e.id, e.types, e.scopes, e.attrs, e.created_at, e.modified_at"
#: a row of ``_COLUMNS`` with a NULL pk: the marker a statement appends to say something
#: about how it answered (a walk cut short, the other kind leading)
_NULL_ROW = ("NULL::bigint, NULL::text, NULL::text[], NULL::text[], NULL::jsonb,"
             " NULL::timestamptz, NULL::timestamptz")


def row_to_entity(row: asyncpg.Record, attrs: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "pk": row["pk"],
        "id": row["id"],
        "types": list(row["types"]),
        "scopes": list(row["scopes"]) if row["scopes"] is not None else None,
        "attrs": row["attrs"] if attrs is None else attrs,
        "createdAt": utc_iso(row["created_at"]),
        "modifiedAt": utc_iso(row["modified_at"]),
    }


def text_row_to_entity(row: asyncpg.Record) -> dict[str, Any]:
    """``row_to_entity`` for a row whose ``attrs`` came as text (``geo_candidates``):
    parsed here, only for the rows a page keeps."""
    return row_to_entity(row, orjson.loads(row["attrs"]))


def _geo_rows(attrs: dict[str, Any]) -> list[list[Any]]:
    """(attribute, x1, y1, x2, y2, point) of each located GeoProperty instance; ``point``:
    the box is the geometry (``plain_point``), which a count tests without the entity."""
    rows: list[list[Any]] = []
    for iri, instances in attrs.items():
        for inst in instances:
            if inst.get("type") == "GeoProperty":
                value = inst.get("value")
                bbox = geojson_bbox(value)
                if bbox is not None:
                    rows.append([iri, *bbox, plain_point(value)])
    return rows


def _json_list(items: list[str] | None) -> str | None:
    return None if items is None else orjson.dumps(items).decode()


def _fingerprint(vals: list[Any], geo: list[list[Any]], owner: str | None) -> bytes:
    """128 bits of the value rows, then 128 bits of the geo rows and their dataset: equal
    rows give equal bytes (orjson writes a float's shortest exact form, and index rows
    hold only finite ones), so an unchanged half means unchanged rows but for a 2**-128
    chance, and a replace that changes readings but not the location leaves the geo rows
    alone (``_write_sql``). The value rows' dataset needs no place of its own: the
    ``refDataset`` stamp has value rows. orjson rather than ``repr``: a sixth of the
    hub's CPU on a contract batch went to ``repr`` here."""
    return (blake2b(orjson.dumps(vals), digest_size=16).digest()
            + blake2b(orjson.dumps([owner, geo] if geo else geo), digest_size=16).digest())


#: the provenance attribute naming an entity's owning dataset (hub/service/ownership.py)
_REF_DATASET = DEFAULT_VOCAB + "refDataset"
_DATASET_PREFIX = "urn:ngsi-ld:Dataset:"


def _owner(attrs: dict[str, Any]) -> str | None:
    """The dataset id the stored provenance names: the temporal entity's owner."""
    instances = attrs.get(_REF_DATASET)
    obj = instances[0].get("object") if instances else None
    return obj[len(_DATASET_PREFIX):] if isinstance(obj, str) and obj.startswith(
        _DATASET_PREFIX) else None


def _history_rows(n: int, ent: dict[str, Any], out: list[list[Any]]) -> None:
    """Append (n, attr, datasetId, instant, instance) for every top-level instance that
    carries ``observedAt``: the candidates for history (``_write_sql`` keeps the changed).
    An entity whose dataset records every change (``historyMode`` ``every``, set by
    ``hub/service/ownership.py`` from the owner it decided) has every instance a
    candidate, its ``modifiedAt`` standing in for a missing ``observedAt``."""
    every = ent.get("historyMode") == "every"
    for iri, instances in ent["attrs"].items():
        for inst in instances:
            at = inst.get("observedAt")
            if every and not isinstance(at, str):
                at = inst.get("modifiedAt") or ent["modifiedAt"]
            if isinstance(at, str):
                out[0].append(n)
                out[1].append(iri)
                out[2].append(inst.get("datasetId"))
                out[3].append(at)
                out[4].append(inst)


def _parameters(
    entities: list[dict[str, Any]], history: bool = True
) -> tuple[list[list[Any]], bool, bool]:
    """The statement's parameters: one array per column (binary-encoded by asyncpg, which
    PostgreSQL reads without parsing), index and history rows keyed by the entity's 1-based
    position. The geo block (7 arrays) and the history block (6) are left out when the
    batch has no such rows, and ``_write_sql`` then leaves out their CTEs: (parameters,
    has geo rows, has history rows)."""
    ids, types, scopes, attrs, created, modified, fps = [], [], [], [], [], [], []
    owners: list[str | None] = []
    hist: list[list[Any]] = [[], [], [], [], []]
    v_n: list[int] = []
    v_attr: list[str] = []
    v_num: list[float | None] = []
    v_txt: list[str | None] = []
    g_n: list[int] = []
    g_attr: list[str] = []
    g_box: list[list[float]] = [[], [], [], []]
    g_point: list[bool] = []
    for n, ent in enumerate(entities, 1):
        ids.append(ent["id"])
        types.append(_json_list(ent["types"]))
        scopes.append(_json_list(ent.get("scopes")))
        attrs.append(ent["attrs"])
        created.append(ent["createdAt"])
        modified.append(ent["modifiedAt"])
        vals = index_rows(ent["attrs"])
        geo = _geo_rows(ent["attrs"])
        owners.append(_owner(ent["attrs"]))
        fps.append(_fingerprint(vals, geo, owners[-1]))
        if history:
            _history_rows(n, ent, hist)
        for attr, num, txt in vals:
            v_n.append(n)
            v_attr.append(attr)
            v_num.append(num)
            v_txt.append(txt)
        for attr, *box, point in geo:
            g_n.append(n)
            g_attr.append(attr)
            for column, c in zip(g_box, box, strict=True):
                column.append(c)
            g_point.append(point)
    params: list[list[Any]] = [ids, types, scopes, attrs, created, modified, fps,
                               v_n, v_attr, v_num, v_txt]
    if g_n:
        params += [g_n, g_attr, *g_box, g_point]
    if hist[0]:
        params += [*hist, owners]
    return params, bool(g_n), bool(hist[0])


#: History CTEs of the write statement (docs/architecture.md, "History"): each written
#: instance carrying observedAt that differs from the stored instance of the same attribute
#: and datasetId (system timestamps aside) becomes a temporal instance, in the same
#: statement, so a write that rolls back records nothing. The temporal entity is created
#: owned by the entity's refDataset; an existing one owned by another dataset (its history
#: was started through the temporal API by someone else) gets nothing — history never
#: crosses owners. An instance observed at the same instant as a recorded one replaces it
#: (a corrected reading, as in ``temporal.add_instances``). The temporal entity's ``attrs``
#: (migration 0070: every attribute with instances, lastN's pairs) gains any attribute new
#: to it; a batch of known attributes updates no row.
_HISTORY_SQL = """, h_in AS (
  SELECT i.id, i.types, r.attr, r.ds, r.at::timestamptz AS at, r.data, ow.owner,
    -- an earlier-or-equal reading may repeat an instant already recorded: look (h_del);
    -- a reading newer than the stored one (an adapter moving forward) cannot
    NOT EXISTS (
      SELECT FROM jsonb_array_elements(o.attrs -> r.attr) AS p(inst)
      WHERE p.inst ->> 'datasetId' IS NOT DISTINCT FROM r.ds
        AND (p.inst ->> 'observedAt')::timestamptz < r.at::timestamptz) AS probe
  FROM unnest(${h0}::int8[], ${h1}::text[], ${h2}::text[], ${h3}::text[], ${h4}::jsonb[])
    AS r(n, attr, ds, at, data)
  JOIN input i USING (n)
  JOIN unnest(${h5}::text[]) WITH ORDINALITY AS ow(owner, n) USING (n)
  JOIN up USING (id)
  LEFT JOIN old o ON o.pk = up.pk
  WHERE NOT EXISTS (
    SELECT FROM jsonb_array_elements(o.attrs -> r.attr) AS p(inst)
    WHERE p.inst ->> 'datasetId' IS NOT DISTINCT FROM r.ds
      AND p.inst - 'modifiedAt' - 'createdAt' = r.data - 'modifiedAt' - 'createdAt')
), h_known AS (
  SELECT t.id, t.dataset, t.attrs FROM {schema}.temporal_entities t
  WHERE t.id = ANY (ARRAY(SELECT id FROM h_in))
), h_new AS (
  INSERT INTO {schema}.temporal_entities AS t (id, types, dataset, attrs)
  SELECT f.id, ARRAY(SELECT json_array_elements_text(f.types::json)), f.owner, a.attrs
  FROM (SELECT DISTINCT ON (id) id, types, owner FROM h_in
        WHERE id NOT IN (SELECT id FROM h_known) ORDER BY id) f
  JOIN (SELECT id, array_agg(DISTINCT attr) AS attrs FROM h_in GROUP BY id) a USING (id)
  ON CONFLICT (id) DO NOTHING
  RETURNING t.id
), h_grown AS (
  UPDATE {schema}.temporal_entities t
  SET attrs = ARRAY(SELECT DISTINCT x FROM unnest(t.attrs || g.attrs) AS x ORDER BY 1)
  FROM (SELECT h.id, array_agg(DISTINCT h.attr) AS attrs FROM h_in h JOIN h_known k USING (id)
        WHERE h.owner IS NOT DISTINCT FROM k.dataset AND h.attr <> ALL (k.attrs)
        GROUP BY h.id) g
  WHERE t.id = g.id
), h_ok AS (
  SELECT id FROM h_new
  UNION ALL
  SELECT k.id FROM h_known k
  WHERE EXISTS (SELECT FROM h_in h WHERE h.id = k.id AND h.owner IS NOT DISTINCT FROM k.dataset)
), h_probe AS (
  SELECT id, attr, ds, at FROM h_in WHERE probe AND id IN (SELECT id FROM h_known)
), h_del AS (
  -- the arrays make the probe an index condition bounded by the rows probed (a join on
  -- the CTE alone was planned as a merge join over the whole history)
  DELETE FROM {schema}.temporal_instances x USING h_probe h
  WHERE x.entity_id = ANY (ARRAY(SELECT id FROM h_probe))
    AND x.observed_at = ANY (ARRAY(SELECT at FROM h_probe))
    AND x.entity_id = h.id AND x.attr = h.attr AND x.observed_at = h.at
    AND x.dataset_id IS NOT DISTINCT FROM h.ds AND h.id IN (SELECT id FROM h_ok)
), h_ins AS (
  INSERT INTO {schema}.temporal_instances
    (entity_id, attr, instance_id, dataset_id, observed_at, data)
  SELECT id, attr, 'urn:ngsi-ld:attribute:instance:' || gen_random_uuid(), ds, at, data
  FROM h_in WHERE id IN (SELECT id FROM h_ok)
)"""


#: what follows a replace's ``up`` (``_write_sql``): the entities whose index rows are
#: rebuilt, and the key of each written entity; then ``_STALE_ALL`` or ``_STALE_CHANGED``
_REBUILT = """, rebuild AS (
  -- per half of the fingerprint (``_fingerprint``): value rows, geo rows; a stored
  -- fingerprint of another shape (NULL, or the earlier single hash) rebuilds both. The
  -- value rows carry the dataset, which the refDataset stamp's own rows fingerprint
  SELECT up.pk, up.id, up.inserted, up.dataset,
    up.inserted OR substr(old.index_fp, 1, 16) IS DISTINCT FROM substr(up.index_fp, 1, 16)
      OR length(old.index_fp) IS DISTINCT FROM 32 AS v,
    up.inserted OR substr(old.index_fp, 17) IS DISTINCT FROM substr(up.index_fp, 17)
      OR length(old.index_fp) IS DISTINCT FROM 32 AS g
  FROM up LEFT JOIN old USING (pk)
  WHERE up.inserted OR old.index_fp IS DISTINCT FROM up.index_fp
), keyed AS (
  SELECT rebuild.pk, input.n, rebuild.v, rebuild.g, rebuild.dataset
  FROM rebuild JOIN input USING (id)
)"""
#: the rebuilt entities' stored index rows, all deleted (``ins_v`` writes them all again)
_STALE_ALL = """, stale AS (
  SELECT ARRAY(SELECT pk FROM rebuild WHERE NOT inserted AND v) AS v_pks,
         ARRAY(SELECT pk FROM rebuild WHERE NOT inserted AND g) AS g_pks
), del_v AS (
  DELETE FROM {schema}.entity_values v USING stale WHERE v.eid = ANY (stale.v_pks)
), del_g AS (
  DELETE FROM {schema}.entity_geo g USING stale WHERE g.eid = ANY (stale.g_pks)
)"""
#: for a versioned write (``_write_sql``): only the value rows that changed are deleted
#: here and inserted (``_NEW_ROWS``), not all of them, so an update of one attribute
#: leaves the others' rows and index entries alone. Not for batches: the comparison costs
#: more than it saves when most rows change (measured, docs/performance.md). A row of
#: another dataset than the entity's (its ``refDataset`` changed) counts as changed
_STALE_CHANGED = """, del_v AS (
  DELETE FROM {schema}.entity_values v USING keyed k
  WHERE k.v AND v.eid = k.pk AND (v.dataset IS DISTINCT FROM k.dataset OR NOT EXISTS (
    SELECT FROM unnest($8::int8[], $9::text[], $10::float8[], $11::text[]) AS r(n, attr, num, txt)
    WHERE r.n = k.n AND r.attr = v.attr AND r.num IS NOT DISTINCT FROM v.num
      AND r.txt IS NOT DISTINCT FROM v.txt))
), del_g AS (
  DELETE FROM {schema}.entity_geo g USING keyed k WHERE k.g AND g.eid = k.pk
)"""
#: the condition ``ins_v`` adds after ``_STALE_CHANGED``: a row the entity already has (in
#: the statement's snapshot, before ``del_v``) is kept, not written again
_NEW_ROWS = """
    AND NOT EXISTS (SELECT FROM {schema}.entity_values v WHERE v.eid = k.pk
      AND v.attr = r.attr AND v.num IS NOT DISTINCT FROM r.num
      AND v.txt IS NOT DISTINCT FROM r.txt AND v.dataset IS NOT DISTINCT FROM k.dataset)"""


#: the (types, dataset, attribute) of every written entity (migration 0100): what a count
#: relies on to skip the key lookups (``count_entities``), so it is part of the one write
#: statement. Only new combinations insert a row; a known one is an index probe
_SHAPES = """, ins_s AS (
  INSERT INTO {schema}.entity_shapes (types, dataset, attr)
  SELECT DISTINCT u.types, u.dataset, k.attr
  FROM up u JOIN input i USING (id) CROSS JOIN LATERAL jsonb_object_keys(i.attrs) AS k(attr)
  ON CONFLICT DO NOTHING
)"""


@lru_cache(maxsize=256)
def _write_sql(schema: str, create_only: bool, geo: bool = True, history: bool = True,
               versions: int = 0, known: int = 0) -> str:
    """The one write statement. The index rows of a replaced entity are rebuilt only when
    their fingerprint changed (``index_fp``, migration 0005), so re-sent observations that
    repeat their values write no index rows at all. The stored fingerprint is read through
    the statement's snapshot, which is why ``write_entities`` needs replaced entities locked
    by an earlier statement of the transaction, or written only as the version it read
    (``versions``).

    The statement has only the parts its batch needs: without geo rows no ``ins_g``,
    without history candidates no ``_HISTORY_SQL``, and a create (``create_only``: nothing
    is replaced, so nothing is stale) neither reads the stored rows nor deletes index rows.
    PostgreSQL sets up every node of a plan on each execution, empty or not: for one
    entity the unused CTEs were about 40 % of the statement's database CPU (measured,
    docs/performance.md). Kept per shape and tenant: formatting the ~4 kB text took 3 % of
    an attribute update's hub CPU.

    ``versions`` (the number of the parameter holding one row version per id, see
    ``write_entities``) makes the statement an ``UPDATE`` of exactly those row versions:
    nothing is inserted, and an entity changed or deleted since it was read is left alone.
    An ``UPDATE`` rather than the upsert, because an upsert whose row was deleted after
    the statement began would insert it again.

    ``ins_s`` records the written entities' combinations of types, dataset and attribute
    (``_SHAPES``), and every returned row carries the table's OID (``shapes``) for
    ``_learn``. ``known`` (the number of a parameter holding that OID) leaves ``ins_s``
    out, for a write whose every combination this process saw committed in that table:
    the statement writes nothing unless the table is still that one, and then returns
    one row of NULLs (``write_entities`` writes again with ``ins_s``)."""
    if versions:
        old = f"""old AS (
  SELECT e.pk, e.id, e.index_fp, e.ctid, e.attrs, x.version FROM {schema}.entities e
  JOIN unnest($1::text[], ${versions}::text[]) AS x(id, version)
    ON e.id = x.id AND e.xmin::text = x.version
)"""
        write = f"""up AS (
  UPDATE {schema}.entities AS e
  SET types = ARRAY(SELECT json_array_elements_text(i.types::json)),
      scopes = CASE WHEN i.scopes IS NOT NULL
                    THEN ARRAY(SELECT json_array_elements_text(i.scopes::json)) END,
      attrs = i.attrs, modified_at = i.modified_at::timestamptz, index_fp = i.fp
  FROM input i JOIN old o USING (id)
  -- the version read: a concurrent update or delete makes PostgreSQL re-check these
  -- against the row's newest version and skip it. The xmin test is what decides: on
  -- PostgreSQL 16.2 (the embedded server) the re-check of the TID scan's own condition
  -- let a stale write-back through with the ctid test alone (lost updates in the two-hub
  -- test; test_optimistic_rewrites makes that interleaving certain)
  WHERE e.ctid = o.ctid AND e.xmin::text = o.version
  RETURNING e.pk, e.id, false AS inserted, e.index_fp, e.types, e.dataset
)"""
        write += _REBUILT + _STALE_CHANGED.format(schema=schema)
    elif create_only:
        # ``old`` only ever matches rows this statement does not insert (ON CONFLICT DO
        # NOTHING leaves them out of ``up``): history needs no stored instance to compare
        old = "old AS (SELECT NULL::bigint AS pk, NULL::jsonb AS attrs WHERE false)"
        write = f"""up AS (
  INSERT INTO {schema}.entities AS e
    (id, types, scopes, attrs, created_at, modified_at, index_fp)
  SELECT id, ARRAY(SELECT json_array_elements_text(types::json)),
         CASE WHEN scopes IS NOT NULL THEN ARRAY(SELECT json_array_elements_text(scopes::json))
         END, attrs, created_at::timestamptz, modified_at::timestamptz, fp
  FROM input ORDER BY n
  ON CONFLICT (id) DO NOTHING
  RETURNING e.pk, e.id, true AS inserted, e.types, e.dataset
), keyed AS (
  SELECT up.pk, input.n, true AS v, true AS g, up.dataset FROM up JOIN input USING (id)
)"""
    else:
        old = f"""old AS (
  SELECT e.pk, e.index_fp, e.ctid, e.attrs FROM {schema}.entities e
  WHERE e.id = ANY ($1::text[])
)"""
        write = f"""up AS (
  INSERT INTO {schema}.entities AS e
    (id, types, scopes, attrs, created_at, modified_at, index_fp)
  SELECT id, ARRAY(SELECT json_array_elements_text(types::json)),
         CASE WHEN scopes IS NOT NULL THEN ARRAY(SELECT json_array_elements_text(scopes::json))
         END, attrs, created_at::timestamptz, modified_at::timestamptz, fp
  FROM input ORDER BY n
  ON CONFLICT (id) DO UPDATE SET types = EXCLUDED.types, scopes = EXCLUDED.scopes,
    attrs = EXCLUDED.attrs, modified_at = EXCLUDED.modified_at, index_fp = EXCLUDED.index_fp
  -- only the very row version this statement's snapshot read: a row another
  -- transaction inserted or changed since is a write this statement has not seen --
  -- not ours to overwrite unseen, and the index rows it wrote are invisible here
  WHERE e.ctid IN (SELECT ctid FROM old)
  RETURNING e.pk, e.id, (xmax = 0) AS inserted, e.index_fp, e.types, e.dataset
)"""
        write += _REBUILT + _STALE_ALL.format(schema=schema)
    ins_g = f"""
, ins_g AS (
  INSERT INTO {schema}.entity_geo (eid, attr, bbox, dataset, point)
  SELECT k.pk, r.attr, box(point(r.x1, r.y1), point(r.x2, r.y2)), k.dataset, r.point
  FROM unnest($12::int8[], $13::text[], $14::float8[], $15::float8[], $16::float8[],
              $17::float8[], $18::bool[]) AS r(n, attr, x1, y1, x2, y2, point)
  JOIN keyed k USING (n) WHERE k.g
)""" if geo else ""
    first = 19 if geo else 12
    hist = _HISTORY_SQL.format(schema=schema, **{f"h{k}": first + k for k in range(6)}
                               ) if history else ""
    table = f"'{schema}.entity_shapes'::regclass::oid"
    same = f"\n  WHERE {table} = ${known}" if known else ""
    tail = (f" FROM up UNION ALL SELECT NULL, NULL WHERE {table} <> ${known}" if known
            else f", {table} AS shapes FROM up")
    return f"""
WITH input AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::text[], $6::text[],
                       $7::bytea[])
    WITH ORDINALITY AS x(id, types, scopes, attrs, created_at, modified_at, fp, n){same}
), {old}, {write}, ins_v AS (
  INSERT INTO {schema}.entity_values (eid, attr, num, txt, dataset)
  SELECT k.pk, r.attr, r.num, r.txt, k.dataset
  FROM unnest($8::int8[], $9::text[], $10::float8[], $11::text[]) AS r(n, attr, num, txt)
  JOIN keyed k USING (n) WHERE k.v{_NEW_ROWS.format(schema=schema) if versions else ""}
){"" if known else _SHAPES.format(schema=schema)}{ins_g}{hist}
SELECT id, inserted{tail}"""


async def write_entities(
    con: asyncpg.Connection, schema: str, entities: list[dict[str, Any]], *, create_only: bool,
    history: bool = True, versioned: bool = False,
) -> dict[str, bool]:
    """Upsert whole entities; returns ``{id: inserted}`` for the rows written.

    ``versioned``: every entity carries the ``VERSION`` its row had when it was read
    (``fetch_entity(versioned=True)``), and is written only if its row is still that
    version, never inserted; the others are absent from the result. This is the
    optimistic alternative to a lock held across statements (``hub/api/tx.py``
    ``rewrite``): no transaction, so two round trips fewer for a read-modify-write.

    Every written instance carrying ``observedAt`` that changed is recorded in the
    temporal representation by the same statement (``_HISTORY_SQL``); ``history=False``
    records nothing (the benchmark's baseline).

    With ``create_only`` existing ids are left untouched and absent from the result, which
    is how callers detect ``AlreadyExists`` without an exception aborting the transaction.
    An entity that already exists must be locked (``FOR UPDATE``) by an earlier statement
    of the caller's transaction, so no concurrent write changes its index rows between
    this statement's snapshot and its update (``_write_sql`` reads their fingerprints).
    An entity that another transaction created or changed after this statement's snapshot
    was taken is not written either and is absent from the result: the caller has not
    decided on that state (its owner, its old attributes), so it looks again, this time
    locking it (``hub/api/batch.py`` retries such ids).
    """
    if not entities:
        return {}
    params, geo, recorded = _parameters(entities, history)
    versions = 0
    if versioned:
        params.append([ent[VERSION] for ent in entities])
        versions = len(params)
    combos = [_combos(ent) for ent in entities]
    known = _KNOWN.get(schema)
    if known is not None and all(c <= known[1] for c in combos):
        rows = await con.fetch(_write_sql(schema, create_only, geo, recorded, versions,
                                          known=len(params) + 1), *params, known[0])
        if not rows or rows[-1]["id"] is not None:
            return {r["id"]: r["inserted"] for r in rows}
        _KNOWN.pop(schema, None)  # another table of that name: write as if unknown
    rows = await con.fetch(_write_sql(schema, create_only, geo, recorded, versions), *params)
    if rows and not con.is_in_transaction():
        written = {r["id"] for r in rows}
        _learn(schema, rows[0]["shapes"], [c for ent, c in zip(entities, combos, strict=True)
                                           if ent["id"] in written])
    return {r["id"]: r["inserted"] for r in rows}


Combo = tuple[tuple[str, ...], str | None, str]

#: per tenant schema: the ``entity_shapes`` table's OID and combinations this process
#: saw committed in it (``_learn``)
_KNOWN: dict[str, tuple[int, set[Combo]]] = {}
#: combinations kept per schema at most; beyond, writes with new ones record them as
#: before and nothing more is learnt
KNOWN_LIMIT = 10_000


def _combos(ent: dict[str, Any]) -> set[Combo]:
    """The ``entity_shapes`` rows writing ``ent`` needs: its types in order, the dataset
    its ``dataset`` column will hold (``_owner``, the column's expression in Python) and
    each attribute name."""
    types, dataset = tuple(ent["types"]), _owner(ent["attrs"])
    return {(types, dataset, name) for name in ent["attrs"]}


def _learn(schema: str, table: int, combos: list[set[Combo]]) -> None:
    """Remember combinations a write outside a transaction recorded (committed with the
    statement; ``ON CONFLICT DO NOTHING`` waits for a concurrent insert of one to commit
    or roll back), for the table ``table``: rows are never removed from it, so a later
    write of the same ones may leave ``ins_s`` out while the table is the same
    (``_write_sql``'s ``known`` checks that in the statement). A single-entity create
    then costs PostgreSQL ~30 µs less (docs/performance.md)."""
    held = _KNOWN.get(schema)
    seen = held[1] if held is not None and held[0] == table else set()
    for c in combos:
        if len(seen) + len(c) > KNOWN_LIMIT:
            break
        seen |= c
    _KNOWN[schema] = (table, seen)


#: the key of a read entity holding its row version (``fetch_entity(versioned=True)``):
#: what ``write_entities(versioned=True)`` checks it still is
VERSION = "version"


async def fetch_entity(
    con: asyncpg.Connection, schema: str, entity_id: str, *, for_update: bool = False,
    versioned: bool = False,
) -> dict[str, Any] | None:
    lock = " FOR UPDATE" if for_update else ""
    # xmin, the transaction that wrote this row version: every update writes a new
    # version under a new transaction id, so an equal xmin is the same version (a ctid
    # may come back after vacuum, under another update of the same entity)
    version = ", e.xmin::text AS version" if versioned else ""
    row = await con.fetchrow(
        f"SELECT {_COLUMNS}{version} FROM {schema}.entities e WHERE e.id = $1{lock}", entity_id
    )
    if row is None:
        return None
    ent = row_to_entity(row)
    if versioned:
        ent[VERSION] = row["version"]
    return ent


async def fetch_many(
    con: asyncpg.Connection, schema: str, ids: list[str], *, for_update: bool = False
) -> dict[str, dict[str, Any]]:
    lock = " ORDER BY e.id FOR UPDATE" if for_update else ""
    rows = await con.fetch(
        f"SELECT {_COLUMNS} FROM {schema}.entities e WHERE e.id = ANY($1::text[]){lock}", ids
    )
    return {r["id"]: row_to_entity(r) for r in rows}


async def delete_entities(con: asyncpg.Connection, schema: str, ids: list[str]) -> list[str]:
    rows = await con.fetch(
        f"""WITH gone AS (
              DELETE FROM {schema}.entities WHERE id = ANY($1::text[]) RETURNING pk, id
            ), v AS (
              DELETE FROM {schema}.entity_values x USING gone WHERE x.eid = gone.pk
            ), g AS (
              DELETE FROM {schema}.entity_geo x USING gone WHERE x.eid = gone.pk
            )
            SELECT id FROM gone""",
        ids,
    )
    return [r["id"] for r in rows]


@dataclass(slots=True)
class Filter:
    """A compiled entity filter: SQL conditions on alias ``e`` with their parameters."""

    conditions: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    order: list[str] = field(default_factory=list)
    order_params: list[Any] = field(default_factory=list)  # numbered after ``params``
    # the last sort key, ordering entities equal on ``order`` (``orderby.tie_break``)
    tie: str = "e.pk"
    # candidate subqueries (``SELECT <alias>.eid ...`` over ``params``), each returning a
    # superset of the matching pks: the plan's driving index (``_driven``)
    drivers: list[str] = field(default_factory=list)
    # the quoted tenant schema whose entity count scales the candidate bound
    # (``_candidate_cap``); None: the bound as it is
    schema: str | None = None
    # a candidate bound of its own instead (``_walk``)
    cap: int | None = None
    # the bound of a count whose candidates need no index probe (``count_entities``)
    counting: bool = False
    # the expanded attribute of an ``orderBy`` whose first key is ascending on its value:
    # the page may be read by walking the value index in order (``_walk_sql``)
    walk: str | None = None
    # the direction ("" or " DESC") of an order by ``createdAt`` alone: a large candidate
    # set's page may be read along the creation index (``_creation_walk_sql``)
    created: str | None = None
    # how many entities match, when a page already showed them all (``fetch_entities``):
    # ``count_entities`` then needs no statement of its own
    known_total: int | None = None
    # candidate subqueries worth reading only when a bounded walk in pk order could not
    # fill the page (``_fetch_page``): an ``idPattern``'s ids or a ``~=`` attribute's
    # strings holding the pattern's literal, which a dense or 1 % pattern would read
    # more of than the walk needs; a count reads them as drivers (``count_entities``)
    lazy: list[tuple[str, list[Any]]] = field(default_factory=list)  # placeholders {}
    # q's bounds on index values every match has one within (``qlang_sql.Bound``), where
    # an ordered walk on the attribute may start (``_walk_sql``)
    bounds: list[Bound] = field(default_factory=list)
    # driver -> the IRI of the one attribute whose index rows it reads (q's comparisons)
    driver_attrs: dict[str, str] = field(default_factory=dict)
    # driver -> the condition of ``conditions`` that it reads the index rows of (an
    # ``EXISTS`` probe): true of every member of the driver's complete set (``where_among``)
    probes: dict[str, str] = field(default_factory=dict)
    # a disjunction's driver (with a probe) -> the attributes its items read
    either_attrs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # the conditions of ``conditions`` that read only ``e.types`` and ``e.dataset`` (the
    # query's types, access control's condition): ``entity_shapes`` rows answer them too
    key_conditions: list[str] = field(default_factory=list)
    # access control's condition of ``conditions`` when it leaves out most datasets (a
    # firm's grants, ``Selection.access_partial``): a count beyond the base candidate
    # bound joins the keys it passes (``count_entities``)
    access: str | None = None
    # driver -> SQL true when its set may hold no more than ``{read}`` rows (an SQL
    # integer written in), judged from a sample without reading the set (a geo driver's,
    # ``GEO_SAMPLE``): where false, the set is taken to be larger than the bound unread
    gates: dict[str, str] = field(default_factory=dict)
    # the driver of a geo-query's box (``SELECT g.eid FROM ... entity_geo g WHERE ...``)
    geo_driver: str | None = None
    #: a condition on a dataset column (given as ``v.dataset``, ``g.dataset``, ...) every
    #: index row of a match passes (``bind_datasets``): the drivers read only such rows,
    #: and a count's proof looks at only such shapes
    datasets: Callable[[str], str] | None = None

    def next_param(self) -> int:
        return len(self.params) + 1

    def bind_datasets(self, bound: Callable[[str], str]) -> None:
        """Make every driver that reads value rows read only those passing ``bound`` (a
        condition on ``v.dataset``, migration 0104), which every value row of a match
        passes: the candidate sets of a caller who may read a few datasets (a firm) are
        then its own, read index-only, where they held every match of the tenant and
        each candidate's key was looked up or joined to drop the hidden ones."""
        self.datasets = bound
        renamed = {d: _rebound(d, bound) for d in self.drivers}
        self.drivers = [renamed[d] for d in self.drivers]
        self.probes = {renamed.get(d, d): p for d, p in self.probes.items()}
        self.driver_attrs = {renamed.get(d, d): a for d, a in self.driver_attrs.items()}
        self.either_attrs = {renamed.get(d, d): a for d, a in self.either_attrs.items()}
        self.gates = {renamed.get(d, d): g for d, g in self.gates.items()}
        if self.geo_driver is not None:
            self.geo_driver = _rebound(self.geo_driver, bound)

    def tagged(self, driver: str) -> str:
        """``driver`` as rows ``(eid, mine)`` of every dataset, ``mine`` its bound
        (``bind_datasets``), so that a read may stop at a number of index rows rather
        than of the caller's (``_driven_own``); a driver it does not bind is all mine."""
        for rows, alias in _INDEX_ROWS:
            bound = self.datasets and self.datasets(f"{alias}.dataset")
            if bound is None or f"{rows}{bound} AND " not in driver:
                continue
            return driver.replace(f"{rows}{bound} AND ", rows).replace(
                f"SELECT {alias}.eid FROM ", f"SELECT {alias}.eid, {bound} AS mine FROM ")
        return f"SELECT u.eid, true AS mine FROM ({driver}) AS u"

    def walk_starts(self, desc: bool, column: str | None = None) -> list[str]:
        """The parameters of q's bounds where a walk on ``walk`` may start: its upper
        bounds when descending, its lower ones when ascending; of one ``entity_values``
        column (``v.num``, ``v.txt``), or of either."""
        side = "high" if desc else "low"
        return [b.param for b in self.bounds if b.attr == self.walk and b.side == side
                and column in (None, b.column)]

    def add(self, sql: str, *params: Any) -> None:
        """Add a condition whose placeholders are written ``{}``, numbered here in order."""
        numbers = [f"${self.next_param() + i}" for i in range(len(params))]
        self.conditions.append(sql.format(*numbers))
        self.params.extend(params)

    def add_fragment(self, sql: str, params: list[Any]) -> None:
        """Add SQL already numbered from ``next_param()`` (the query compilers do this)."""
        self.conditions.append(sql)
        self.params.extend(params)

    def where(self) -> str:
        return " AND ".join(f"({c})" for c in self.conditions) if self.conditions else "TRUE"

    def walked(self) -> str:
        """``where()`` for a page's walk in pk order: the index checks inside a
        disjunction stay per-row probes (``qlang_sql.EITHER``)."""
        return self.where().replace(EITHER, " OFFSET 0")

    def implied(self, complete: bool = False) -> list[str]:
        """The probes every member of the candidate set (``_driven``'s ``pick``) passes:
        that of the only driver read, whose complete set it is, or with ``complete`` (the
        intersection of every driver's complete set) those of all the drivers read."""
        drivers = self.drivers[:_MAX_DRIVERS]
        if not complete and len(drivers) != 1:
            return []
        return [self.probes[d] for d in drivers if d in self.probes]

    def where_among(self, complete: bool = False) -> str:
        """``where()`` for the members of the candidate set, its ``implied`` probes not
        run again (TRUE). A count of 20,000 candidates otherwise joined them with the
        value index a second time; a page probed each candidate's value rows (~4
        buffers) for it."""
        sql = self.where()
        for probe in self.implied(complete):
            sql = sql.replace(probe, "TRUE")
        return sql

    def sort_keys(self) -> str:
        """``order`` and the tie-break after it: the full order of a page."""
        return ", ".join([*self.order, self.tie])

    def lazy_driven(self) -> Filter:
        """This filter with its lazy candidate sets as drivers, their parameters numbered
        after the others (no ``order``: a lazy set never serves an ordered page)."""
        params, drivers = list(self.params), []
        for sql, values in self.lazy:
            drivers.append(sql.format(*(f"${len(params) + 1 + i}" for i in range(len(values)))))
            params.extend(values)
        return replace(self, drivers=[*self.drivers, *drivers], params=params, lazy=[])


#: how every driver reading value rows (``qlang_sql``) names them, before its conditions
_VALUE_ROWS = ".entity_values v WHERE "
#: the same of a geo-query's driver (``hub/service/selection.py``)
_GEO_ROWS = ".entity_geo g WHERE "
#: the index rows that carry their entity's dataset (migrations 0104, 0106), with the
#: alias their drivers give them
_INDEX_ROWS = ((_VALUE_ROWS, "v"), (_GEO_ROWS, "g"))


def _rebound(driver: str, bound: Callable[[str], str]) -> str:
    """``driver`` reading only the index rows passing ``bound`` (``Filter.bind_datasets``)."""
    for rows, alias in _INDEX_ROWS:
        driver = driver.replace(rows, f"{rows}{bound(f'{alias}.dataset')} AND ")
    return driver


#: largest candidate set taken from a driving index (docs/architecture.md, "Query plans"):
#: up to this many index-only tuples, sorted, beat walking the entities in pk order, at up
#: to ``CANDIDATES_AT`` entities; beyond, the bound grows with the table (``_candidate_cap``)
CANDIDATES = 4_000
CANDIDATES_AT = 200_000
_MAX_DRIVERS = 3
#: a count whose one driver's set needs no probe (``Filter.where_among``) reads the set
#: whole up to this share of the tenant's entities and looks each member up by pk (the
#: type and access columns are in the primary key's index), instead of hash-joining the
#: value index with every entity: measured at 200,000 entities, 2 % 16 -> 8 ms, 10 %
#: 68-81 -> 30-33 ms, 20 % 75-113 -> 56-67 ms; about even at 30 %, worse above
COUNT_SHARE = 0.2


def _candidate_cap(flt: Filter) -> str:
    """The candidate bound as SQL: ``CANDIDATES`` times the tenant's entity count (the
    planner's ``reltuples``, no count) over ``CANDIDATES_AT``, never less than
    ``CANDIDATES``. A walk in pk order visits about page ÷ selectivity entities whatever
    the table's size, while a set of a given selectivity grows with it: at 1,000,000
    entities a 1 % term (10,000 rows) was walked, 18,700 buffers for an ordered page,
    where reading and sorting its rows costs ~200 (docs/architecture.md)."""
    if flt.cap is not None:
        return str(flt.cap)
    if flt.schema is None:
        return str(CANDIDATES)
    table = (flt.schema + ".entities").replace("'", "''")
    scaled = (f"greatest({CANDIDATES}, c.reltuples * {COUNT_SHARE})" if flt.counting
              else f"{CANDIDATES} * greatest(1, c.reltuples / {CANDIDATES_AT})")
    return f"(SELECT ({scaled})::int FROM pg_class c WHERE c.oid = '{table}'::regclass)"


def _driven(flt: Filter, branch: str, *, complete: bool = False, ctes: str = "") -> str:
    """``WITH`` candidate sets of ``flt.drivers`` + ``branch`` (a ``{pick}`` template) for
    the two plans of a query, one of which is empty at run time.

    Each driver is read index-only up to one row past the candidate bound
    (``_candidate_cap``). If some driver yields no more than the bound, the intersection
    of the complete sets (``pick.pks``, duplicates allowed) becomes an ``e.pk = ANY(...)``
    index condition: the primary key is walked in the array's sorted order, so ``ORDER BY
    e.pk LIMIT n`` reads about n entities. If every driver is larger, ``pick.pks`` is NULL
    and the other branch runs: matches are then dense enough that walking the entities in
    pk order reaches the page after a few hundred rows. Every condition of ``flt`` still
    applies in both branches.

    ``complete`` reads every driver whole and always picks their intersection: for terms
    each dense but sparse together, where the walk would visit thousands of entities per
    match (``fetch_entities``). ``ctes``: further ``name AS (...)`` items for ``branch``.
    """
    drivers = flt.drivers[:_MAX_DRIVERS]
    head = f"WITH {ctes}, " if ctes else "WITH "
    if flt.datasets is not None and not complete:
        return _driven_own(flt, drivers, head, branch)
    if complete:
        sets = [f"c{i} AS MATERIALIZED ({d})" for i, d in enumerate(drivers)]
        others = "".join(f" AND eid IN (SELECT eid FROM c{j})" for j in range(1, len(drivers)))
        sets.append(f"pick AS MATERIALIZED (SELECT ARRAY(SELECT eid FROM c0 WHERE TRUE{others})"
                    " AS pks)")
        return head + ", ".join(sets) + " " + branch
    cap = f"cap AS MATERIALIZED (SELECT {_candidate_cap(flt)} AS n)"
    read = "(SELECT n FROM cap)"
    gates, reads = _gates(flt, drivers, read)
    if len(drivers) == 1:
        # one pass over the driver, counting and collecting at once, instead of a
        # materialized CTE read twice (its count, then its rows): at 200,000 entities the
        # statement's execution went 1.5 -> 1.0 ms at 10 %, 0.77 -> 0.67 ms at 1 %
        (limit, ok), = reads
        return (f"{head}{', '.join([cap, *gates])}, pick AS MATERIALIZED (SELECT CASE WHEN"
                f" {_and(ok, f'count(*) <= {read}')}"
                f" THEN coalesce(array_agg(eid), ARRAY[]::bigint[]) END AS pks"
                f" FROM ({drivers[0]} LIMIT {limit}) AS c0) {branch}")
    return head + ", ".join([cap, *gates, *_intersected(drivers, read, reads, "TRUE")]
                            ) + " " + branch


#: one geo row in this many (by entity pk) is in a partial GiST index of its own
#: (migration 0108): a geo driver's sample (``geo_gate``)
GEO_SAMPLE = 64


def geo_gate(source: str) -> str:
    """The gate (``Filter.gates``) of the geo driver reading ``source`` (``FROM
    entity_geo g WHERE ...``): true unless the sample holds over twice its share of
    ``{read}``. A GiST index returns ~2 rows a microsecond (R-tree pages overlap, and each
    row is tested), so the 4,000 a dense box's read took before it gave up on them cost
    more than the walk that followed (1.7 of 2.6 ms of PostgreSQL a page at 10 %); the
    sample's ~125 rows cost ~0.1 ms. Twice, so that a set within the bound is almost never
    taken for larger (one of 4,000 rows expects 62 sampled, with a standard deviation of
    8): the walk of a sparse set is the expensive mistake."""
    sample = f"SELECT {source} AND g.eid % {GEO_SAMPLE} = 0"
    most = f"2 * {{read}} / {GEO_SAMPLE}"
    return f"(SELECT count(*) FROM ({sample} LIMIT {most} + 1) AS s) <= {most}"


def _gates(flt: Filter, drivers: list[str], read: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The CTEs of the drivers' gates (``Filter.gates``), and per driver (how many rows to
    read of it: ``read`` + 1, or none where its gate found the set larger; the condition
    that its gate let it be read, "TRUE" without one)."""
    ctes: list[str] = []
    reads: list[tuple[str, str]] = []
    for i, driver in enumerate(drivers):
        gate = flt.gates.get(driver)
        if gate is None:
            reads.append((f"{read} + 1", "TRUE"))
            continue
        ctes.append(f"g{i} AS MATERIALIZED (SELECT {gate.replace('{read}', read)} AS ok)")
        ok = f"(SELECT ok FROM g{i})"
        reads.append((f"(CASE WHEN {ok} THEN {read} + 1 ELSE 0 END)", ok))
    return ctes, reads


def _and(ok: str, cond: str) -> str:
    return cond if ok == "TRUE" else f"{ok} AND {cond}"


def _intersected(drivers: list[str], read: str, reads: list[tuple[str, str]],
                 members: str) -> list[str]:
    """The CTEs ``c0``, ``c1``, ... (each driver read as ``reads`` says, ``_gates``) and
    ``pick``: the members (``members``, a condition on a driver's row) of the first set
    whose read stopped short, that are in every other such set."""
    sets = [f"c{i} AS MATERIALIZED ({d} LIMIT {limit})"
            for i, (d, (limit, _)) in enumerate(zip(drivers, reads, strict=True))]
    small = [f"({_and(ok, f'(SELECT count(*) FROM c{i}) <= {read}')})"
             for i, (_, ok) in enumerate(reads)]
    whens = []
    for i in range(len(drivers)):
        others = "".join(f" AND (NOT {small[j]} OR eid IN (SELECT eid FROM c{j}))"
                         for j in range(len(drivers)) if j != i)
        whens.append(f"WHEN {small[i]} THEN ARRAY(SELECT eid FROM c{i} WHERE {members}{others})")
    return [*sets, f"pick AS MATERIALIZED (SELECT CASE {' '.join(whens)} END AS pks)"]


#: a caller whose drivers read its datasets' rows only (``Filter.bind_datasets``) reads at
#: most this many times the base candidate bound of index rows (or the grown bound, if
#: larger), the others' included
OWN_READ = 4


def _driven_own(flt: Filter, drivers: list[str], head: str, branch: str) -> str:
    """``_driven`` for drivers bound to the caller's datasets. Each is read up to
    ``OWN_READ`` times the candidate bound of index rows, and its set is the caller's
    rows among them (``Filter.tagged``): complete when the read stopped short. So the
    candidate branch runs where the set is complete and the caller's part of it within
    the bound. Bounded by the caller's rows alone, a dense term read every match of the
    tenant to find that the firm's 3,600 of 36,000 (a five-type tenant of 200,000
    entities, 90 %) were few enough: 13 ms of PostgreSQL a page, against 6 for the walk
    in pk order, which meets a visible match every ~10 entities there."""
    tagged = [flt.tagged(d) for d in drivers]
    cap = f"cap AS MATERIALIZED (SELECT {_candidate_cap(flt)} AS n)"
    # of the base bound, not of the one grown with the table: at 1,000,000 entities
    # 4 x 20,000 rows read before a dense page's walk cost 25,000 buffers, 32-41 ms
    read = f"(SELECT greatest(n, {OWN_READ * CANDIDATES}) FROM cap)"
    gates, reads = _gates(flt, drivers, read)
    if len(drivers) == 1:
        (limit, ok), = reads
        return (f"{head}{', '.join([cap, *gates])}, pick AS MATERIALIZED (SELECT CASE WHEN"
                f" {_and(ok, f'count(*) <= {read}')}"
                f" AND count(*) FILTER (WHERE c0.mine) <= (SELECT n FROM cap)"
                f" THEN coalesce(array_agg(c0.eid) FILTER (WHERE c0.mine),"
                f" ARRAY[]::bigint[]) END AS pks FROM ({tagged[0]} LIMIT {limit}) AS c0)"
                f" {branch}")
    return head + ", ".join([cap, *gates, *_intersected(tagged, read, reads, "mine")]
                            ) + " " + branch


def _branches(flt: Filter, select: str, tail: str, walk_bound: str = "", *,
              ordered: bool = True, among: tuple[str, str] | None = None,
              ctes: str = "", walking: str | None = None) -> str:
    """The candidate branch and the walking branch of ``_driven``. In the first, index
    ``EXISTS`` checks stay per-row probes (``OFFSET 0`` keeps PostgreSQL from turning them
    into a hash join that reads every index row and loses the pk order) unless the rows
    need no order (``ordered`` false: a count, where a semi-join of the candidates with
    the value index beats a probe per candidate); the second leaves the planner free (a
    merge join along the pk, or a hash join for a count) but for the checks inside a
    disjunction, which a page probes per row (``Filter.walked``). ``walk_bound``, a condition on
    ``e``, bounds the second branch. ``among`` (a statement reading the candidate set's
    first matches in the page's order, and the page's depth): its rows are the page when
    it found ``depth`` of them; else the set is sorted (``_creation_walk_sql``). ``ctes``
    as for ``_driven``. ``walking``: a one-row statement of the second branch's own
    (``count_entities``'s joined count), run only when the candidate set is not picked."""
    among_set = flt.where_among()
    probe = among_set.replace(PROBE, " OFFSET 0") if ordered else among_set
    candidates = f"{select} WHERE {probe} AND e.pk = ANY((SELECT pks FROM pick)::bigint[])"
    if among is None:
        first = f"({candidates}{tail})"
    else:
        walk, depth = among
        full = f"(SELECT count(*) FROM a) = {depth}"
        first = (f"(WITH a AS MATERIALIZED ({walk}) (SELECT * FROM a e WHERE {full}{tail})"
                 f" UNION ALL ({candidates} AND NOT {full}{tail}))")
    if walking is not None:
        return _driven(flt, f"{first} UNION ALL (SELECT ({walking}) AS n"
                            " WHERE (SELECT pks IS NULL FROM pick))", ctes=ctes)
    where = flt.walked() if ordered else flt.where()
    return _driven(flt, f"{first} UNION ALL ({select} WHERE {where}"
                        f"{walk_bound} AND (SELECT pks IS NULL FROM pick){tail})", ctes=ctes)


#: entities a page of a query with several large candidate sets walks in pk order before
#: it intersects the complete sets instead (``fetch_entities``)
WALK_ENTITIES = 10_000


#: index rows an ordered walk (``_walk_sql``) reads at most before it gives up, and the
#: deepest page (offset + limit) it serves
WALK_ROWS = 10_000
WALK_PAGE = 500
#: a candidate set at least this large, and ``WALK_AMONG_DEPTH`` times the page's depth
#: (offset + limit), is not sorted whole for an ordered page: the walk keeps the index
#: rows of its members, reading at most ``WALK_AMONG_ROWS`` of them (index-only, ~300 a
#: page) before the set is sorted after all (``_walk_sql``). The walk reads about depth x
#: (the attribute's rows) / (set size) rows; measured at 200,000 entities, 20 a page,
#: sets of ~40 sort cheaper (350 against 1,716 buffers), ~100 break even, 200 walk (349
#: against 1,535), 2,000 walk (226 against 15,730)
WALK_AMONG = 200
WALK_AMONG_DEPTH = 10
WALK_AMONG_ROWS = 50_000
_FLOAT_MAX = "1.7976931348623157e308"  # float8's largest finite, as index_float clamps


@dataclass(frozen=True, slots=True)
class _Kind:
    """One kind of value an ordered walk reads along its index (``_walk_sql``)."""

    #: the ``entity_values`` column, in its index's collation
    column: str
    #: the SQL type of that column, for the rows that do not come from it
    sql_type: str
    #: the entity's first value is the one its index row holds: ``{key}`` is that value
    #: (jsonb), ``{val}`` the row's column
    holds: str
    #: the column's lowest value, below every row: where an ascending walk starts when
    #: q's bound does not apply
    lowest: str

    def exact(self, val: float | str) -> bool:
        """Whether every index row holding ``val`` stands for the same value in jsonb's
        order: float8 holds every integer below 2**53 and every float the JSON parser
        makes, beyond which distinct integers share one index value; a string cut at
        ``TXT_PREFIX`` may stand for longer ones that differ past the cut."""
        if isinstance(val, str):
            return len(val) < TXT_PREFIX
        return abs(val) < 2.0**53


_NUMBERS = _Kind(
    "v.num", "float8",
    f"jsonb_typeof({{key}}) = 'number' AND least(greatest({{key}}::numeric, -{_FLOAT_MAX}),"
    f" {_FLOAT_MAX})::float8 = {{val}}", "'-Infinity'::float8")
_STRINGS = _Kind(
    'v.txt COLLATE "C"', "text",
    f"jsonb_typeof({{key}}) = 'string' AND left({{key}} #>> '{{{{}}}}', {TXT_PREFIX}) = {{val}}",
    "''::text")

#: database collations in which jsonb orders strings as the byte order of the ``txt``
#: index (code-point order of UTF-8): libc's C, POSIX and C.UTF-8, and PostgreSQL's
#: builtin provider (17+), all code-point orders. Elsewhere strings are sorted, not walked
_BYTEWISE = ("(SELECT d.datlocprovider = 'b' OR d.datlocprovider = 'c'"
             " AND d.datcollate IN ('C', 'POSIX', 'C.UTF-8', 'C.utf8')"
             " FROM pg_database d WHERE d.datname = current_database())")

#: the kind each (schema, attribute, direction) was last walked as: the first guess for
#: the next query on it. A guess only — each statement checks its own kind's gate, and a
#: wrong guess costs one statement (``_walk``)
_KIND_HINTS: dict[tuple[str, str, bool], _Kind] = {}
_KIND_HINTS_MAX = 4_096


def _walk_sql(flt: Filter, kind: _Kind, grouped: bool, select: str, schema: str, attr: str,
              tail: str, depth: str, limit: str) -> str:
    """A page ordered by ``flt.walk``'s value, read along the ``entity_values`` index
    instead of sorting every match (docs/architecture.md, "Query plans").

    The walk reads the attribute's index rows of one ``kind`` in value order — ``(attr,
    num, eid)`` for numbers, ``(attr, txt COLLATE "C", eid)`` for strings; backwards for a
    descending first key, its ties put in pk order by an incremental sort — at most
    ``WALK_ROWS``, and keeps an entity at the row holding its first instance's value,
    which is the very value ``ORDER BY attrs -> attr -> 0 -> 'value' ASC|DESC NULLS
    LAST, pk`` sorts on. Rows carry ``walked`` (true from the walk) and ``val``, the index
    value.

    Ungrouped, the page is the walk's matches in (value, pk) order, right when every
    value on it is exact (``_Kind.exact``). ``grouped`` (further keys, or an inexact value
    on the ungrouped page): the walk stops at the ``depth``-th (offset + limit) match,
    whose index value is the boundary ``top``; every match before it in the walk sorts
    before the boundary group, which is every match whose index value equals ``top``,
    read again (checked to fit in ``WALK_ROWS``: else the walk answers nothing). The
    page is the prefix and the group sorted by all keys: only those rows, however many
    match.

    jsonb sorts strings before numbers, and booleans, arrays and objects after them, and
    strings in the database's collation. So numbers are walked ascending only when the
    attribute has no string row, descending only with no marker or geo row
    (``values.sorts_above_numbers``); strings ascending in a bytewise collation
    (``_BYTEWISE``), descending only when the attribute has no number, marker or geo row
    either: each gate one index probe. When the attribute's rows say the other kind
    leads (strings ascending, numbers descending), a last row with a NULL ``pk`` says so
    (the candidate branch, when it runs, still answers: it sorts).
    A walk that cannot fill the page within its bound is not the answer
    (``fetch_entities`` then sorts as before).
    With drivers the candidate branch of ``_driven`` runs instead when some candidate set
    is small: a few thousand entities sort cheaper than a walk that finds one match in
    many rows."""
    key = f"(e.attrs -> {attr} -> 0 -> 'value')"
    probe = flt.where().replace(PROBE, " OFFSET 0")
    desc = flt.order[0].endswith(DESCENDING)
    way, top = (" DESC", "min") if desc else ("", "max")
    order = f" ORDER BY {flt.sort_keys()}"

    def first(of: _Kind) -> str:
        # the attribute's first index row of one kind, in its index's order: one probe
        column = of.column.replace("v.", "s.")
        return (f"(SELECT true FROM {schema}.entity_values s WHERE s.attr = {attr}"
                f" AND {column.split()[0]} IS NOT NULL ORDER BY {column} LIMIT 1)")

    marker = (f"(SELECT s.eid FROM {schema}.entity_values s WHERE s.attr = {attr}"
              f" AND s.num IS NULL AND s.txt IS NULL ORDER BY s.eid LIMIT 1)")
    # q's bounds on the walked attribute's values of this kind (``Filter.bounds``): with
    # no marker row, an entity has at most one index value of the kind for it
    # (``values.index_rows``), which is its first value's when the walk keeps it (and
    # the one a bound of the kind constrains); so a match's key is within
    # every bound (rounding and cutting are monotonic, the bounds non-strict), and the
    # walk starts at the bound instead of reading past every smaller (larger, descending)
    # value. Descending walks run only without markers; ascending ones apply a bound only
    # then (checked once, at start)
    bare = kind.column.split()[0]
    sides = flt.walk_starts(desc, bare)
    if desc:
        start = "".join(f" AND {kind.column} <= {p}::{kind.sql_type}" for p in sides)
    else:
        start = "".join(f" AND {kind.column} >= CASE WHEN {marker} IS NULL"
                        f" THEN {p}::{kind.sql_type} ELSE {kind.lowest} END" for p in sides)
    if desc:  # a marker, or a geo row for a located geometry, sorts above numbers
        above = (f"coalesce({marker},"
                 f" (SELECT g.eid FROM {schema}.entity_geo g WHERE g.attr = {attr} LIMIT 1))"
                 f" IS NULL")
        numbers = f"{first(_NUMBERS)} IS NOT NULL"
        gate, other = ((above, f"NOT {numbers} AND {_BYTEWISE}") if kind is _NUMBERS else
                       (f"{above} AND NOT {numbers} AND {_BYTEWISE}", numbers))
    else:
        strings = f"{first(_STRINGS)} IS NOT NULL"
        gate, other = ((f"NOT {strings}", f"{strings} AND {_BYTEWISE}") if kind is _NUMBERS
                       else (_BYTEWISE, f"NOT {strings}"))

    # only the value rows of the caller's datasets (``Filter.bind_datasets``): a firm's
    # walk looks up its own entities, not every entity along the index
    within = "" if flt.datasets is None else f" AND {flt.datasets('v.dataset')}"

    def walk(cond: str, bound: str = "", among: str = "", rows: int = WALK_ROWS,
             gated: bool = True) -> str:
        return (f"SELECT {_COLUMNS}, true AS walked, w.val FROM (SELECT v.eid,"
                f" {kind.column} AS val FROM {schema}.entity_values v WHERE v.attr = {attr}"
                f" AND {bare} IS NOT NULL{start}{bound}{among}{within}"
                f" ORDER BY val{way}, v.eid LIMIT {rows}) AS w"
                # one pk probe per index row, in the walk's order: joined plainly, the
                # planner (estimating a handful of matches) merge-joined on the sort
                # key, sorting every entity of the type on disk (16,700 buffers at
                # 50,000 entities for an orderBy without q)
                f" CROSS JOIN LATERAL (SELECT * FROM {schema}.entities e WHERE e.pk = w.eid"
                f" OFFSET 0) AS e"
                f" WHERE {gate if gated else 'TRUE'} AND {kind.holds.format(key=key, val='w.val')}"
                f" AND {probe}{cond}")

    def walked(cond: str, among: str = "", rows: int = WALK_ROWS) -> str:
        if not grouped:
            return f"({walk(cond, '', among, rows)} ORDER BY w.val{way}, w.eid{tail})"
        group = f" AND {kind.column} = (SELECT top FROM b)"
        return (f"(WITH m AS MATERIALIZED ({walk(cond, '', among, rows)}"
                f" ORDER BY w.val{way}, w.eid LIMIT {depth}),"
                f" b AS MATERIALIZED (SELECT {top}(val) AS top, count(*) AS n FROM m)"
                f" SELECT * FROM (SELECT * FROM m WHERE m.val <> (SELECT top FROM b)"
                # (a full prefix passed the gate: the group's read needs none)
                f" UNION ALL ({walk(cond, group, among, rows, False)}"
                f" AND (SELECT n FROM b) = {depth}"
                f" AND (SELECT count(*) FROM (SELECT FROM {schema}.entity_values v"
                f" WHERE v.attr = {attr}{group}{among}{within} LIMIT {rows + 1}) AS g)"
                f" <= {rows}))"
                f" AS e{order}{tail})")

    switch = f" UNION ALL (SELECT {_NULL_ROW}, true, NULL::{kind.sql_type} WHERE {other})"
    if not flt.drivers:
        return walked("") + switch
    # a candidate set of WALK_AMONG or more: the walk, its index rows filtered by the set
    # (a hashed subplan: ``IS TRUE`` keeps the IN from becoming a join that loses the
    # order), answers when it fills the page; else the set is sorted
    among = " AND (v.eid IN (SELECT unnest(pks) FROM pick)) IS TRUE"
    filtered = walked(f" AND (SELECT cardinality(pks) >= greatest({WALK_AMONG},"
                      f" {WALK_AMONG_DEPTH} * {depth}) FROM pick)", among, WALK_AMONG_ROWS)
    full = f"(SELECT count(*) FROM a) = {limit}"
    return _driven(flt, f"(WITH a AS MATERIALIZED ({filtered}) SELECT * FROM a WHERE {full}"
                        f" UNION ALL ({select}, false AS walked, NULL::{kind.sql_type}"
                        f" FROM {schema}.entities e"
                        f" WHERE {flt.where_among().replace(PROBE, ' OFFSET 0')}"
                        f" AND e.pk = ANY((SELECT pks FROM pick)::bigint[])"
                        f" AND NOT {full}{order}{tail}))"
                        f" UNION ALL {walked(' AND (SELECT pks IS NULL FROM pick)')}{switch}")


def _creation_walk_sql(flt: Filter, select: str, schema: str, tail: str, depth: str) -> str:
    """A page ordered by ``createdAt`` alone (``flt.created``) whose candidate set is
    large (``WALK_AMONG``, ``WALK_AMONG_DEPTH``): the creation index ``(created_at, pk)``
    read index-only in order, at most ``WALK_AMONG_ROWS`` rows, keeping the set's members
    (a hashed subplan; ``IS TRUE`` keeps the ``IN`` from becoming a join that loses the
    order) and fetching only those by pk for the other conditions, until ``depth``
    (offset + limit) match. Short of that, the set is sorted (``_branches``).
    Sorting a set reads every member's entity: 2,000 at 1 % of 200,000, ~16,000 buffers;
    the walk reads ~``depth`` / 1 % index rows and ``depth`` entities. Without drivers,
    or with every set over the candidate bound, ``_branches``' other branch runs, in
    which PostgreSQL walks the same index itself."""
    way = flt.created
    probe = flt.where_among().replace(PROBE, " OFFSET 0")
    member = "(w.pk IN (SELECT unnest(pks) FROM pick)) IS TRUE"
    large = (f"(SELECT cardinality(pks) >= greatest({WALK_AMONG}, {WALK_AMONG_DEPTH} * {depth})"
             f" FROM pick)")
    walked = (f"SELECT {_COLUMNS} FROM (SELECT c.pk, c.created_at FROM {schema}.entities c"
              f" WHERE {large} ORDER BY c.created_at{way}, c.pk{way}"
              f" LIMIT {WALK_AMONG_ROWS}) AS w"
              f" CROSS JOIN LATERAL (SELECT * FROM {schema}.entities e WHERE e.pk = w.pk"
              f" OFFSET 0) AS e WHERE {member} AND {probe}"
              f" ORDER BY w.created_at{way}, w.pk{way} LIMIT {depth}")
    return _branches(flt, select, tail, among=(walked, depth))


async def _walk(con: asyncpg.Connection, schema: str, flt: Filter, limit: int,
                offset: int) -> list[asyncpg.Record] | None:
    """The page of ``flt`` as an ordered walk answers it (``_walk_sql``), or None when
    the walk cannot (the caller sorts). The kind walked first is the one the attribute
    was last walked as (numbers at first); a statement that finds the other kind leading
    tries that kind, once. An ungrouped page holding an inexact value is read again
    grouped."""
    assert flt.walk is not None
    params = [*flt.params, *flt.order_params]
    n = len(params)
    # the order's first parameter is the walked attribute (``compile_order_by``)
    attr = f"${len(flt.params) + 1}::text"
    desc = flt.order[0].endswith(DESCENDING)
    hint = (schema, flt.walk, desc)
    if flt.drivers and all(flt.driver_attrs.get(d) == flt.walk for d in flt.drivers) and (
            flt.walk_starts(desc)):
        # every candidate set reads the walked attribute's rows, from which the walk
        # starts at q's bound anyway: counting a large set first is wasted (20,001 index
        # rows at 1,000,000 entities). A set of up to WALK_AMONG is still sorted: a walk
        # would not fill the page from it, and only the sort knows that is the answer
        flt = replace(flt, cap=WALK_AMONG)
    kind = _KIND_HINTS.get(hint, _NUMBERS)
    grouped = len(flt.order) > 1
    switched = False
    for _ in range(3):  # one switch of kind, one regrouping
        rows = await con.fetch(
            _walk_sql(flt, kind, grouped, f"SELECT {_COLUMNS}", schema, attr,
                      f" LIMIT ${n + 1} OFFSET ${n + 2}",
                      f"(${n + 1}::int8 + ${n + 2}::int8)", f"${n + 1}::int8"),
            *params, limit, offset)
        other = bool(rows) and rows[-1]["pk"] is None  # the other kind leads
        flipped = _STRINGS if kind is _NUMBERS else _NUMBERS
        if other:
            rows = rows[:-1]
            if len(_KIND_HINTS) >= _KIND_HINTS_MAX:
                _KIND_HINTS.clear()
            _KIND_HINTS[hint] = flipped
        # the candidate branch's answer is the answer; the walk's only when it is full
        if any(not r["walked"] for r in rows):
            return rows
        if other:
            if switched:
                return None  # the attribute changed kind again meanwhile
            kind, switched = flipped, True
            continue
        if len(rows) < limit:
            return None
        if grouped or all(kind.exact(r["val"]) for r in rows):
            return rows
        grouped = True
    return None


async def fetch_entities(
    con: asyncpg.Connection, schema: str, flt: Filter, limit: int, offset: int
) -> list[dict[str, Any]]:
    """The page ``[offset, offset + limit)`` of the entities passing ``flt``, in its order.

    A page shorter than ``limit`` that is not empty past the start shows every match
    from ``offset`` on, so it also tells the count (``flt.known_total``): ``count=true``
    then costs no second statement."""
    rows = await _fetch_page(con, schema, flt, limit, offset)
    if limit > 0 and len(rows) < limit and (rows or offset == 0):
        flt.known_total = offset + len(rows)
    return rows


async def _fetch_page(
    con: asyncpg.Connection, schema: str, flt: Filter, limit: int, offset: int
) -> list[dict[str, Any]]:
    params = [*flt.params, *flt.order_params]
    n = len(params)
    if flt.walk is not None and limit > 0 and offset + limit <= WALK_PAGE:
        walked = await _walk(con, schema, flt, limit, offset)
        if walked is not None:
            return [row_to_entity(r) for r in walked]
    tail = f" ORDER BY {flt.sort_keys()} LIMIT ${n + 1} OFFSET ${n + 2}"
    select = f"SELECT {_COLUMNS} FROM {schema}.entities e"
    if not flt.drivers and flt.lazy and not flt.order:
        # the walk reads at most WALK_ENTITIES entities; a page it could not fill, in a
        # table that has more, comes from the lazy candidate sets. A LIMIT in the
        # subquery keeps the conditions out of it, and the walk stops with a full page
        rows = await con.fetch(
            f"SELECT * FROM (SELECT e.* FROM {schema}.entities e ORDER BY e.pk"
            f" LIMIT {WALK_ENTITIES}) AS e WHERE {flt.walked()}{tail}", *params, limit, offset)
        if len(rows) == limit or not await con.fetchval(
                f"SELECT EXISTS (SELECT FROM {schema}.entities b ORDER BY b.pk"
                f" OFFSET {WALK_ENTITIES})"):
            return [row_to_entity(r) for r in rows]
        return await _fetch_page(con, schema, flt.lazy_driven(), limit, offset)
    if not flt.drivers:
        rows = await con.fetch(f"{select} WHERE {flt.walked()}{tail}", *params, limit, offset)
        return [row_to_entity(r) for r in rows]
    if flt.created is not None and limit > 0 and offset + limit <= WALK_PAGE:
        rows = await con.fetch(_creation_walk_sql(flt, select, schema, tail,
                                                  f"(${n + 1}::int8 + ${n + 2}::int8)"),
                               *params, limit, offset)
        return [row_to_entity(r) for r in rows]
    if len(flt.drivers) == 1 or flt.order:
        # one branch runs, the other's gate is false; Append keeps each branch's order
        rows = await con.fetch(_branches(flt, select, tail), *params, limit, offset)
        return [row_to_entity(r) for r in rows]
    # several terms, each possibly dense while sparse together (a walk could visit
    # thousands of entities per match): the walk stops at the WALK_ENTITIES-th entity, and
    # a marker row (NULL pk) says it was cut there; a page it could not fill comes from
    # the intersection of the terms' complete candidate sets, O(their rows)
    # (read once, by both: as two subqueries it was two scans of 10,000 index entries)
    bound = (f"cut AS MATERIALIZED (SELECT (SELECT b.pk FROM {schema}.entities b"
             f" ORDER BY b.pk OFFSET {WALK_ENTITIES} LIMIT 1) AS pk)")
    marker = (f" UNION ALL (SELECT {_NULL_ROW}"
              f" WHERE (SELECT pks IS NULL FROM pick) AND (SELECT pk FROM cut) IS NOT NULL)")
    walk_bound = f" AND e.pk <= coalesce((SELECT pk FROM cut), {2**63 - 1})"
    rows = await con.fetch(_branches(flt, select, tail, walk_bound, ctes=bound) + marker,
                           *params, limit, offset)
    cut = bool(rows) and rows[-1]["pk"] is None
    rows = rows[:-1] if cut else rows
    if cut and len(rows) < limit:
        probe = flt.where_among(complete=True).replace(PROBE, " OFFSET 0")
        rows = await con.fetch(_driven(flt, f"{select} WHERE {probe} AND e.pk = ANY("
                                            f"(SELECT pks FROM pick)::bigint[]){tail}",
                                       complete=True), *params, limit, offset)
    return [row_to_entity(r) for r in rows]


async def count_entities(con: asyncpg.Connection, schema: str, flt: Filter) -> int:
    """How many entities pass ``flt``: exact (NGSILD-Results-Count), from the page when
    ``fetch_entities`` already saw them all, else counted."""
    if flt.known_total is not None:
        return flt.known_total
    select = f"SELECT count(*) AS n FROM {schema}.entities e"
    shaped = _shaped_count(flt, schema)
    if flt.implied() and flt.access is None:
        # one driver, whose members need no probe: one primary-key lookup each
        counted = replace(flt, counting=True)
    else:
        # the base bound, not the one grown with the table (``_candidate_cap``): a count
        # visits every candidate either way, and beyond a few thousand a hash semi join
        # of the index-only sets beats a key and a value probe per candidate (1,000,000
        # entities, 1 %: 46,000 buffers joined against 93,000 probed). So too for a
        # caller who sees part of the tenant, whose visible keys come index-only from
        # ``entities_dataset`` (migration 0102): a firm seeing one of ten datasets counted
        # a 10 % term by 20,000 lookups in 60,000 buffers, by the join in ~700; at 1 %
        # (2,000 candidates) the two took about as long, the lookups slightly less. Not
        # for one who sees most datasets: joining all keys took 2-3 times the lookups
        counted = replace(flt if flt.drivers else flt.lazy_driven(), schema=None)
    # beyond the bound, a caller who sees part of the tenant counts its visible keys
    # hashed and the members streamed past them, where the semi join above hashed every
    # member: a firm seeing one of ten datasets, a 90 % term (180,000 members, 20,000
    # keys): 66-71 against 45 ms a statement, 6 MB of hash against 1 MB
    walking = (shaped.count(f" JOIN {schema}.entities e ON e.pk = c.eid WHERE {shaped.keys}")
               if shaped is not None and flt.access is not None else None)
    if counted.drivers:
        branches = _branches(counted, select, "", ordered=False, walking=walking)
        sql = f"SELECT sum(n) FROM ({branches}) AS parts"
    else:
        sql = f"{select} WHERE {flt.where()}"
    if shaped is None:
        return int(await con.fetchval(sql, *counted.params))
    return int(await con.fetchval(
        f"SELECT CASE WHEN {shaped.proof} THEN ({shaped.count('')}) ELSE ({sql}) END",
        *counted.params, *shaped.attrs))


#: what is left of a filter whose every condition is a key condition or an implied probe
_ALL_TRUE = re.compile(r"[()\s]*TRUE[()\s]*(?:AND[()\s]*TRUE[()\s]*)*")


@dataclass(frozen=True, slots=True)
class _Shaped:
    """A count of the drivers' common members (``_shaped_count``)."""

    #: true when every member passes the filter's key conditions
    proof: str
    #: the filter's key conditions on ``e``
    keys: str
    #: the members, ``c.eid``, each once or (``distinct``) possibly more often
    members: str
    distinct: bool
    #: when not ``distinct``: true when a member may repeat after all (a marker row)
    marked: str | None
    #: the parameters ``proof`` and ``marked`` add after the filter's
    attrs: list[str]

    def count(self, join: str) -> str:
        """The members counted, ``join`` (a join of ``c`` with ``e`` and its ``WHERE``)
        after them: the proof's count with none, the visible ones with the keys."""
        many = f"SELECT count(DISTINCT c.eid) FROM ({self.members}) AS c{join}"
        if self.distinct:
            return many
        once = f"SELECT count(*) FROM ({self.members}) AS c{join}"
        if self.marked is None:
            return once
        return f"SELECT CASE WHEN {self.marked} THEN ({many}) ELSE ({once}) END"


def _only_keys(flt: Filter, probes: list[str]) -> bool:
    """Whether ``flt``'s conditions are its key conditions (``types``, ``dataset``) and
    ``probes``, index checks every member of the candidate sets read passes."""
    rest = " AND ".join(c for c in flt.conditions if c not in flt.key_conditions)
    for probe in probes:
        rest = rest.replace(probe, "TRUE")
    return bool(_ALL_TRUE.fullmatch(rest))


def _shapes_proof(flt: Filter, schema: str, attr: str) -> str:
    """SQL true when every entity holding the attribute ``attr`` (a placeholder) passes
    ``flt``'s key conditions, read from its ``entity_shapes`` rows: a superset of the
    stored combinations, so a stale row can only fail it. Within the datasets the
    drivers read when they are bound (``Filter.bind_datasets``): they hold no entity of
    another."""
    keys = " AND ".join(f"({c})" for c in flt.key_conditions) or "TRUE"
    within = "" if flt.datasets is None else f" AND {flt.datasets('e.dataset')}"
    return (f"NOT EXISTS (SELECT FROM {schema}.entity_shapes e WHERE e.attr = {attr}"
            f"{within} AND ({keys}) IS NOT TRUE)")


def _shaped_count(flt: Filter, schema: str) -> _Shaped | None:
    """A count from the value index alone, when ``entity_shapes`` proves it exact, or
    None when the filter is not of that form.

    The form: q's terms each answered by its driver's rows alone (``Filter.implied``),
    and otherwise only conditions on ``types`` and ``dataset``. The proof: every entity
    holding one driver's attribute (each of a disjunction's, ``Filter.either_attrs``)
    passes those conditions, read from the attribute's ``entity_shapes`` rows (a
    superset of the stored combinations, so a stale row can only fail it). Then the
    matches are exactly the drivers' common members, and no member needs its key looked
    up: at 200,000 entities a 10 % count read 20,000 keys (60,000 buffers, ~65 ms),
    which this replaces with its ~300 index pages. Where the proof fails, the matches are
    the members joined with the keys that pass (``count_entities``).

    One driver: an attribute without a marker row (``values.index_rows``) holds at most
    one number and one string per entity, so a driver reading one of the two kinds has
    one row per member and its rows are counted as they come; else its members are
    counted distinct, as several drivers' intersection is."""
    drivers = flt.drivers
    reads = [(flt.driver_attrs[d],) if d in flt.driver_attrs else flt.either_attrs.get(d)
             for d in drivers]
    if flt.lazy or not drivers or len(drivers) > _MAX_DRIVERS or not all(reads):
        return None
    if not _only_keys(flt, flt.implied(complete=True)):
        return None
    keys = " AND ".join(f"({c})" for c in flt.key_conditions) or "TRUE"
    attrs = [a for read in reads if read for a in read]
    first = len(flt.params) + 1
    numbers = iter(range(first, first + len(attrs)))
    # a conjunction's members hold every driver's attribute: one driver's proof will do;
    # a disjunction's members hold one of its items' attributes: each must pass
    proof = " OR ".join("(" + " AND ".join(
        _shapes_proof(flt, schema, f"${next(numbers)}") for _ in read) + ")"
        for read in reads if read)
    if len(drivers) > 1:
        common = " INTERSECT ".join(f"SELECT eid FROM ({d}) AS c{i}"
                                    for i, d in enumerate(drivers))
        return _Shaped(proof, keys, common, False, None, attrs)
    driver = drivers[0]
    if ("v.num" in driver) == ("v.txt" in driver) or "UNION" in driver:
        return _Shaped(proof, keys, driver, True, None, attrs)
    marked = (f"EXISTS (SELECT FROM {schema}.entity_values v WHERE v.attr = ${first}"
              " AND v.num IS NULL AND v.txt IS NULL)")
    return _Shaped(proof, keys, driver, False, marked, attrs)


async def geo_candidates(
    con: asyncpg.Connection, schema: str, flt: Filter, attr: str, *,
    after: int | None = None, limit: int | None = None, rows: bool = False,
) -> list[tuple[int, list[dict[str, Any]], asyncpg.Record | None]]:
    """(pk, instances of ``attr``, row) of entities passing ``flt``, in pk order, for
    exact refinement: all of them, or a chunk of ``limit`` with pks above ``after``. The
    row is the whole entity when ``rows``, its ``attrs`` as text for
    ``text_row_to_entity`` (a page is then cut from the candidates with no second
    statement, and only its rows are parsed), else None (a count reads the attribute)."""
    n = len(flt.params)
    params: list[Any] = [*flt.params, attr]
    extra = ""
    if after is not None:
        params.append(after)
        extra = f" AND e.pk > ${len(params)}"
    tail = " ORDER BY e.pk"
    if limit is not None:
        params.append(limit)
        tail += f" LIMIT ${len(params)}"
    columns = (_COLUMNS.replace("e.attrs", "e.attrs::text AS attrs") + ", ") if rows else (
        "e.pk, ")
    select = f"SELECT {columns}e.attrs -> ${n + 1} AS geo FROM {schema}.entities e"
    if not flt.drivers:
        sql = f"{select} WHERE {flt.where()}{extra}{tail}"
    elif limit is None:
        # every match (a count, an order): the complete candidate sets, intersected. The
        # walk in pk order that a page takes when they are large visits every entity of
        # the tenant for this, each probed (10 % of 200,000: 870,000 buffers, 430 ms)
        sql = _driven(flt, f"{select} WHERE {flt.where_among(complete=True)} AND e.pk = ANY("
                           f"(SELECT pks FROM pick)::bigint[]){extra}{tail}", complete=True)
    else:
        sql = _branches(flt, select, extra + tail)
    found = await con.fetch(sql, *params)
    return [(r["pk"], r["geo"] or [], r if rows else None) for r in found]


async def geo_rows(con: asyncpg.Connection, schema: str, flt: Filter, attr: str
                   ) -> tuple[list[int], list[float], list[float], list[int]]:
    """Every entity passing ``flt`` but for the exact geo test, by its geo rows in the
    box: (the pks of Point rows, their x, their y; in pk order) and the pks of entities
    with another geometry there. A count or an ``orderBy`` tests every match: a Point by
    its row (``GeoQuery.matching_points``), another geometry by its entity's value
    (``geo_values``); the entities were all read for their values before (10 % of
    200,000: 20,000 rows, 79,000 buffers).

    The geo driver's complete set is read with its boxes (index-only, migration 0106) and
    intersected with the other drivers' complete sets. The entities' other conditions
    (types, access: the primary key's index holds their columns) are looked up for each
    member, unless ``entity_shapes`` proves that every entity with ``attr`` in the
    datasets read passes them (as ``count_entities`` does): then no entity is read."""
    geo = flt.geo_driver
    assert geo is not None
    others = [d for d in flt.drivers[:_MAX_DRIVERS] if d != geo]
    # every member of the complete sets read (the box's, the others') passes their probes
    implied = [*flt.implied(complete=True), flt.probes[geo]]
    where = flt.where_among(complete=True).replace(flt.probes[geo], "TRUE")
    params = [*flt.params, attr]
    boxes = geo.replace("SELECT g.eid FROM ", "SELECT g.eid, g.bbox, g.point FROM ", 1)
    sets = [f"gx AS MATERIALIZED ({boxes})",
            *(f"c{i} AS MATERIALIZED ({d})" for i, d in enumerate(others))]
    common = "".join(f" AND eid IN (SELECT eid FROM c{i})" for i in range(len(others)))
    sets.append(f"ok AS MATERIALIZED (SELECT e.pk FROM {schema}.entities e WHERE {where}"
                f" AND e.pk = ANY(ARRAY(SELECT DISTINCT eid FROM gx WHERE TRUE{common})))")
    member = "gx.eid IN (SELECT pk FROM ok)"
    if _only_keys(flt, implied):
        proof = _shapes_proof(flt, schema, f"${len(params)}")
        member = f"(({proof}){common.replace(' eid IN', ' gx.eid IN')} OR {member})"
    # arrays: 180,000 rows decoded one by one took more of the hub than testing them.
    # Each sorted by the whole row, so that an entity located twice pairs each x with
    # its own y
    order = "ORDER BY gx.eid, (gx.bbox[0])[0], (gx.bbox[0])[1]"
    row = await con.fetchrow(
        f"WITH {', '.join(sets)} SELECT"
        f" array_agg(gx.eid {order}) FILTER (WHERE gx.point) AS pks,"
        f" array_agg((gx.bbox[0])[0] {order}) FILTER (WHERE gx.point) AS xs,"
        f" array_agg((gx.bbox[0])[1] {order}) FILTER (WHERE gx.point) AS ys,"
        " array_agg(DISTINCT gx.eid) FILTER (WHERE NOT gx.point) AS others"
        f" FROM gx WHERE {member}", *params)
    assert row is not None
    return row["pks"] or [], row["xs"] or [], row["ys"] or [], row["others"] or []


async def geo_values(con: asyncpg.Connection, schema: str, attr: str, pks: list[int]
                     ) -> list[tuple[int, list[dict[str, Any]]]]:
    """(pk, instances of ``attr``) of the entities ``pks``, in pk order (``geo_rows``)."""
    rows = await con.fetch(
        f"SELECT e.pk, e.attrs -> $1 AS geo FROM {schema}.entities e"
        " WHERE e.pk = ANY($2::bigint[]) ORDER BY e.pk", attr, pks)
    return [(r["pk"], r["geo"] or []) for r in rows]


async def fetch_ordered(
    con: asyncpg.Connection, schema: str, flt: Filter, pks: list[int], limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """The page ``[offset, offset + limit)`` of the entities ``pks``, in ``flt``'s order
    (``flt.order``, then ``flt.tie``): the matches of a test no SQL runs (the exact geo
    predicate), sorted. ``flt``'s conditions, which every one of them passed, apply again:
    its order's parameters are numbered after theirs."""
    params = [*flt.params, *flt.order_params]
    n = len(params)
    rows = await con.fetch(
        f"SELECT {_COLUMNS} FROM {schema}.entities e WHERE {flt.where()}"
        f" AND e.pk = ANY(${n + 1}::bigint[])"
        f" ORDER BY {flt.sort_keys()} LIMIT ${n + 2} OFFSET ${n + 3}",
        *params, pks, limit, offset)
    return [row_to_entity(r) for r in rows]


async def fetch_by_pks(
    con: asyncpg.Connection, schema: str, pks: list[int]
) -> list[dict[str, Any]]:
    rows = await con.fetch(
        f"SELECT {_COLUMNS} FROM {schema}.entities e WHERE e.pk = ANY($1::bigint[])"
        " ORDER BY e.pk",
        pks,
    )
    return [row_to_entity(r) for r in rows]
