"""SQL for the temporal representation of entities (GS CIM 009 5.6.11-5.6.16)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from hub.query.orderby import compile_order_by
from hub.query.regex_literal import regex_condition
from hub.store.entities import Filter

__all__ = [
    "add_instances",
    "delete_attribute",
    "delete_entity",
    "delete_instance",
    "ensure_partitions",
    "expire_partitions",
    "head",
    "instances",
    "partition_name",
    "partitions",
    "record_deletions",
    "replace_instance",
    "upsert_entity",
]


def _ts(value: Any) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None


async def upsert_entity(con: asyncpg.Connection, schema: str, entity_id: str,
                        types: list[str], dataset: str) -> bool:
    """Create or touch the temporal entity (owned by ``dataset``); True when created."""
    row = await con.fetchrow(
        f"INSERT INTO {schema}.temporal_entities AS t (id, types, dataset) VALUES ($1, $2, $3)"
        " ON CONFLICT (id) DO UPDATE SET modified_at = now(),"
        " types = ARRAY(SELECT DISTINCT unnest(t.types || EXCLUDED.types)),"
        " dataset = coalesce(t.dataset, EXCLUDED.dataset)"
        " RETURNING (xmax = 0) AS inserted",
        entity_id,
        types,
        dataset,
    )
    return bool(row["inserted"])


async def head(con: asyncpg.Connection, schema: str, entity_id: str, *,
               for_update: bool = False) -> tuple[list[str], str | None] | None:
    """(types, owning dataset) of a temporal entity, or None when there is none."""
    lock = " FOR UPDATE" if for_update else ""
    row = await con.fetchrow(
        f"SELECT types, dataset FROM {schema}.temporal_entities WHERE id = $1{lock}",
        entity_id)
    return None if row is None else (list(row["types"]), row["dataset"])


async def add_instances(
    con: asyncpg.Connection, schema: str, entity_id: str, rows: list[tuple[str, str, Any]]
) -> None:
    """``rows``: (attribute IRI, instanceId, stored instance).

    An instance observed at the same instant as a stored one of the same attribute and
    datasetId replaces it (5.6.11 update: a corrected reading, not a second one).
    """
    await con.execute(
        f"DELETE FROM {schema}.temporal_instances WHERE entity_id = $1"
        " AND (attr, coalesce(dataset_id, ''), observed_at) IN"
        " (SELECT * FROM unnest($2::text[], $3::text[], $4::timestamptz[]))",
        entity_id,
        [attr for attr, _, _ in rows],
        [inst.get("datasetId") or "" for _, _, inst in rows],
        [_ts(inst.get("observedAt")) for _, _, inst in rows],
    )
    await con.executemany(
        f"INSERT INTO {schema}.temporal_instances"
        " (entity_id, attr, instance_id, dataset_id, observed_at, data)"
        " VALUES ($1, $2, $3, $4, $5::timestamptz, $6)",
        [(entity_id, attr, iid, inst.get("datasetId"), _ts(inst.get("observedAt")), inst)
         for attr, iid, inst in rows],
    )
    await _name_attributes(con, schema, entity_id, sorted({attr for attr, _, _ in rows}))


async def _name_attributes(con: asyncpg.Connection, schema: str, entity_id: str,
                              attrs: list[str]) -> None:
    """Name ``attrs`` in the temporal entity's ``attrs`` (migration 0070), the superset of
    its attributes with instances that ``lastN`` takes its pairs from; every statement that
    inserts instances keeps it (``hub/store/entities.py`` ``_HISTORY_SQL`` does the same).
    Known names update nothing."""
    await con.execute(
        f"UPDATE {schema}.temporal_entities t"
        " SET attrs = ARRAY(SELECT DISTINCT x FROM unnest(t.attrs || $2::text[]) AS x"
        " ORDER BY 1) WHERE t.id = $1 AND NOT t.attrs @> $2::text[]", entity_id, attrs)


async def instances(con: asyncpg.Connection, schema: str,
                    entity_id: str) -> list[asyncpg.Record]:
    """Every stored attribute instance of a temporal entity (whose existence and types
    ``head`` read), ordered by attribute and observation time."""
    return await con.fetch(
        f"SELECT attr, instance_id, data FROM {schema}.temporal_instances"
        " WHERE entity_id = $1 ORDER BY attr, observed_at NULLS LAST, pk",
        entity_id,
    )


async def delete_entity(con: asyncpg.Connection, schema: str, entity_id: str) -> bool:
    """The temporal entity and its instances (no foreign key cascades: migration 0050)."""
    status = await con.execute(
        f"WITH i AS (DELETE FROM {schema}.temporal_instances WHERE entity_id = $1)"
        f" DELETE FROM {schema}.temporal_entities WHERE id = $1", entity_id)
    return status.endswith(" 1")


async def delete_attribute(
    con: asyncpg.Connection, schema: str, entity_id: str, attr: str,
    dataset_id: str | None, delete_all: bool,
) -> int:
    status = await con.execute(
        f"DELETE FROM {schema}.temporal_instances WHERE entity_id = $1 AND attr = $2"
        " AND ($3 OR dataset_id IS NOT DISTINCT FROM $4)",
        entity_id, attr, delete_all, dataset_id,
    )
    return int(status.split()[-1])


async def has_attribute(con: asyncpg.Connection, schema: str, entity_id: str,
                        attr: str) -> bool:
    return bool(await con.fetchval(
        f"SELECT 1 FROM {schema}.temporal_instances WHERE entity_id = $1 AND attr = $2"
        " LIMIT 1", entity_id, attr))


#: the NGSI-LD Null of each attribute type (4.5.x "deleted" representation), the value of
#: a deletion's instance; a scope's is the empty list
_DELETED = """CASE
  WHEN l.attr = 'https://uri.etsi.org/ngsi-ld/scope' THEN '{"value": []}'::jsonb
  WHEN l.typ = 'Relationship' THEN '{"object": "urn:ngsi-ld:null"}'
  WHEN l.typ = 'LanguageProperty' THEN '{"languageMap": {"@none": "urn:ngsi-ld:null"}}'
  WHEN l.typ = 'VocabProperty' THEN '{"vocab": "urn:ngsi-ld:null"}'
  WHEN l.typ = 'JsonProperty' THEN '{"json": "urn:ngsi-ld:null"}'
  WHEN l.typ = 'ListProperty' THEN '{"valueList": ["urn:ngsi-ld:null"]}'
  WHEN l.typ = 'ListRelationship' THEN '{"objectList": [{"object": "urn:ngsi-ld:null"}]}'
  ELSE '{"value": "urn:ngsi-ld:null"}' END"""


async def record_deletions(
    con: asyncpg.Connection, schema: str, entity_id: str, attrs: list[str] | None,
    dataset_id: str | None, delete_all: bool, owner: str | None, now: str,
) -> int:
    """Record the deletion of attributes (``attrs``; None: every attribute, the entity's
    deletion) as one instance per attribute and datasetId with history: its type, the
    NGSI-LD Null and ``deletedAt``, so ``timeproperty=deletedAt`` shows when it went
    (5.7.3.4). Only in a temporal entity owned by ``owner`` (history never crosses owners);
    an attribute whose newest instance is already a deletion gets no second one. Runs in
    the caller's transaction, so a refused or rolled-back delete records nothing."""
    status = await con.execute(
        f"""INSERT INTO {schema}.temporal_instances
              (entity_id, attr, instance_id, dataset_id, observed_at, data)
            SELECT $1, l.attr, 'urn:ngsi-ld:attribute:instance:' || gen_random_uuid(),
                   l.dataset_id, NULL,
                   jsonb_build_object('type', l.typ, 'deletedAt', $5::text) || {_DELETED}
            FROM (SELECT DISTINCT ON (i.attr, i.dataset_id) i.attr, i.dataset_id,
                         coalesce(i.data->>'type', 'Property') AS typ, i.data ? 'deletedAt' AS gone
                  FROM {schema}.temporal_instances i
                  WHERE i.entity_id = $1 AND ($2::text[] IS NULL OR i.attr = ANY($2))
                    AND ($3 OR i.dataset_id IS NOT DISTINCT FROM $4)
                    AND EXISTS (SELECT FROM {schema}.temporal_entities t
                                WHERE t.id = $1 AND t.dataset IS NOT DISTINCT FROM $6)
                  ORDER BY i.attr, i.dataset_id,
                           coalesce(i.observed_at, (i.data->>'deletedAt')::timestamptz,
                                    (i.data->>'modifiedAt')::timestamptz) DESC NULLS LAST,
                           i.pk DESC) l
            WHERE NOT l.gone""",
        entity_id, attrs, delete_all, dataset_id, now, owner)
    return int(status.split()[-1])


async def delete_instance(con: asyncpg.Connection, schema: str, entity_id: str, attr: str,
                          instance_id: str) -> bool:
    status = await con.execute(
        f"DELETE FROM {schema}.temporal_instances"
        " WHERE entity_id = $1 AND attr = $2 AND instance_id = $3",
        entity_id, attr, instance_id,
    )
    return status.endswith(" 1")


async def replace_instance(con: asyncpg.Connection, schema: str, entity_id: str, attr: str,
                           instance_id: str, inst: dict[str, Any]) -> bool:
    status = await con.execute(
        f"UPDATE {schema}.temporal_instances SET data = $5,"
        " dataset_id = $6, observed_at = $7::timestamptz"
        " WHERE entity_id = $1 AND attr = $2 AND instance_id = $3 AND $4",
        entity_id, attr, instance_id, True, inst, inst.get("datasetId"),
        _ts(inst.get("observedAt")),
    )
    return status.endswith(" 1")


# -- reads of the temporal consumption API (GS CIM 009 5.7.3, 5.7.4; hub/service/temporal_query.py)

#: the instant each ``timeproperty`` (6.3.12) is read from: ``observedAt`` is a column (the
#: partition key, so a window on it prunes partitions); the system times live in ``data``
_TIME_SQL = {
    "observedAt": "i.observed_at",
    "createdAt": "(i.data->>'createdAt')::timestamptz",
    "modifiedAt": "(i.data->>'modifiedAt')::timestamptz",
    "deletedAt": "(i.data->>'deletedAt')::timestamptz",
}

#: the aggregation methods of 4.5.19 over an instance's value (numbers only for the
#: arithmetic ones: a non-number is skipped as SQL aggregates skip NULL). ``num`` is the
#: value when it is a JSON number, generated when the row is written (migration 0070), so
#: no aggregate parses jsonb; only distinctCount compares values of any type
_ANY_VALUE = ("coalesce(i.data->'value', i.data->'object', i.data->'languageMap',"
              " i.data->'vocab', i.data->'json', i.data->'valueList', i.data->'objectList')")
AGGREGATES = {
    "totalCount": "count(*)",
    "distinctCount": f"count(DISTINCT {_ANY_VALUE})",
    "sum": "sum(i.num)",
    "avg": "avg(i.num)",
    "min": "min(i.num)",
    "max": "max(i.num)",
    "stddev": "stddev_samp(i.num)",
    "sumsq": "sum(i.num * i.num)",
}


def _history_filter(
    entity_ids: list[str] | None, attrs: list[str] | None,
    dataset_ids: list[str | None] | None,
    time_property: str, rel: str | None, start: datetime | None, end: datetime | None,
    since: datetime | None = None,
) -> tuple[str, Filter]:
    """The instant expression and the conditions on ``temporal_instances i``: the entities
    (already decided by access control), the readable attributes, the datasetIds and the
    ``timerel`` window. A ``timeproperty`` other than observedAt selects only instances
    that carry it (5.7.3.4: a deletedAt history is the deleted instances). ``since`` is
    the owning dataset's retention (``hub/service/history.py`` ``read_since``): older
    observations are not returned even while their partition is still kept."""
    col = _TIME_SQL[time_property]
    flt = Filter()
    if since is not None:
        flt.add("(i.observed_at >= {} OR i.observed_at IS NULL)", since)
    if entity_ids is not None:  # None: the caller pairs entities and attributes itself
        flt.add("i.entity_id = ANY({}::text[])", entity_ids)
    if attrs is not None:
        flt.add("i.attr = ANY({}::text[])", attrs)
    if dataset_ids is not None:
        named = [d for d in dataset_ids if d is not None]
        default = " OR i.dataset_id IS NULL" if None in dataset_ids else ""
        flt.add(f"(i.dataset_id = ANY({{}}::text[]){default})", named)
    if rel == "before":
        flt.add(f"{col} < {{}}", start)
    elif rel == "after":
        flt.add(f"{col} >= {{}}", start)
    elif rel == "between":
        flt.add(f"{col} >= {{}} AND {col} < {{}}", start, end)
    elif time_property != "observedAt":
        flt.add(f"{col} IS NOT NULL")
    return col, flt


async def history(
    con: asyncpg.Connection, schema: str, entity_ids: list[str], attrs: list[str] | None,
    dataset_ids: list[str | None] | None, time_property: str, rel: str | None,
    start: datetime | None, end: datetime | None, last_n: int | None, cap: int,
    since: datetime | None = None,
) -> list[asyncpg.Record]:
    """The instances of ``entity_ids`` in the window: with ``last_n`` the newest N of each
    attribute; then at most ``cap + 1`` per entity, oldest first (newest first with
    ``last_n``), so the caller sees that a page was cut (``rn`` = ``cap + 1``) and where.
    Rows: entity_id, attr, instance_id, dataset_id, data, t (the time property), rn."""
    if last_n is not None and time_property == "observedAt":
        _, per_pair = _history_filter(None, None, dataset_ids, time_property, rel, start, end,
                                      since)
        lo = max((x for x in (start if rel in ("after", "between") else None, since) if x),
                 default=None)
        hi = start if rel == "before" else end if rel == "between" else None
        return await _last_n(con, schema, entity_ids, attrs, per_pair, last_n, cap, (lo, hi))
    col, flt = _history_filter(entity_ids, attrs, dataset_ids, time_property, rel, start, end,
                               since)
    way = "DESC" if last_n is not None else "ASC"
    n = len(flt.params)
    return await con.fetch(
        "SELECT entity_id, attr, instance_id, dataset_id, data, t, rn FROM ("
        "  SELECT s.*, row_number() OVER (PARTITION BY entity_id"
        f"   ORDER BY t {way} NULLS LAST, pk {way}) AS rn FROM ("
        "    SELECT i.entity_id, i.attr, i.instance_id, i.dataset_id, i.data, i.pk,"
        f"     {col} AS t, row_number() OVER (PARTITION BY i.entity_id, i.attr"
        f"     ORDER BY {col} DESC NULLS LAST, i.pk DESC) AS rn_a"
        f"    FROM {schema}.temporal_instances i WHERE {flt.where()}) s"
        f"  WHERE ${n + 1}::int IS NULL OR rn_a <= ${n + 1}) x"
        f" WHERE rn <= ${n + 2} ORDER BY entity_id, attr, t NULLS LAST, rn",
        *flt.params, last_n, cap + 1,
    )


async def _last_n(con: asyncpg.Connection, schema: str, entity_ids: list[str],
                  attrs: list[str] | None, flt: Filter, last_n: int, cap: int,
                  window: tuple[datetime | None, datetime | None]) -> list[asyncpg.Record]:
    """``lastN`` on observedAt without reading whole histories, nor probing every partition.

    The (entity, attribute) pairs come from the temporal entities' ``attrs`` (migration
    0070: a superset of the attributes with instances), cut to ``attrs``. For each pair the
    newest N rows are read off the (entity_id, attr, observed_at, pk) index, backwards, one
    time range after the other (``_ranges``), newest range first, and the reading stops as
    soon as N rows are found: ``lastN=1`` reads about five pages per pair (1,000 stations x
    2 attributes: 10,040 buffers), whatever the number of months kept."""
    params = list(flt.params)

    def arg(value: Any, cast: str) -> str:
        params.append(value)
        return f"${len(params)}::{cast}"

    ids = arg(entity_ids, "text[]")
    named = "" if attrs is None else f" AND a.attr = ANY({arg(attrs, 'text[]')})"
    n, most = arg(last_n, "int"), arg(cap + 1, "int")
    ranges = _ranges(sorted(await partitions(con, schema)), *window)
    branches = []
    for lo, hi in ranges:
        span = "".join([f" AND i.observed_at >= {arg(lo, 'timestamptz')}" if lo else "",
                        f" AND i.observed_at < {arg(hi, 'timestamptz')}" if hi else ""])
        branches.append(
            "(SELECT i.entity_id, i.attr, i.instance_id, i.dataset_id, i.data, i.pk,"
            f" i.observed_at AS t FROM {schema}.temporal_instances i"
            " WHERE i.entity_id = p.eid AND i.attr = p.attr AND i.observed_at IS NOT NULL"
            f"{span} AND {flt.where()} ORDER BY i.observed_at DESC, i.pk DESC LIMIT {n})")
    if not branches:
        return []
    return await con.fetch(
        "SELECT entity_id, attr, instance_id, dataset_id, data, t, rn FROM ("
        "  SELECT x.*, row_number() OVER (PARTITION BY x.entity_id"
        "    ORDER BY x.t DESC, x.pk DESC) AS rn"
        f"  FROM (SELECT t.id AS eid, a.attr FROM {schema}.temporal_entities t,"
        f"        unnest(t.attrs) AS a(attr) WHERE t.id = ANY({ids}){named}) p"
        # the branches run in the order written (a plain Append), newest range first,
        # each already newest first: the LIMIT stops at the first N, later ranges unread
        f"  CROSS JOIN LATERAL (SELECT * FROM ({' UNION ALL '.join(branches)}) u"
        f"    LIMIT {n}) x) y"
        f" WHERE rn <= {most} ORDER BY entity_id, attr, t, rn", *params)


def _ranges(months: list[date], lo: datetime | None,
            hi: datetime | None) -> list[tuple[datetime | None, datetime | None]]:
    """The time axis cut at the monthly partitions' bounds, newest range first, keeping the
    ranges that meet the window [lo, hi) (None: unbounded). The ranges cover the whole axis
    whatever partitions exist when the statement runs (a partition created or dropped
    since ``partitions`` read them changes nothing): each is a condition on observed_at that
    the planner prunes to the partition holding it, or to the default partition for a
    month without one (late readings not yet moved)."""
    cuts = sorted({_utc(m) for m in months} | {_utc(_month(m, 1)) for m in months})
    bounds: list[datetime | None] = [None, *cuts, None]
    out = []
    for a, b in itertools.pairwise(bounds):
        if (a is None or hi is None or a < hi) and (b is None or lo is None or b > lo):
            out.append((a, b))
    return out[::-1]


async def aggregate_history(
    con: asyncpg.Connection, schema: str, entity_ids: list[str], attrs: list[str] | None,
    dataset_ids: list[str | None] | None, time_property: str, rel: str | None,
    start: datetime | None, end: datetime | None, methods: list[str],
    period_seconds: float | None, since: datetime | None = None,
) -> list[asyncpg.Record]:
    """Aggregated history (4.5.19), computed in SQL: one row per entity, attribute and
    datasetId, with its period buckets as aligned arrays in no particular order: one
    ``m<i>`` per method of ``methods``, the bounds ``start_us`` / ``end_us`` (epoch
    microseconds), and its type ``typ`` (the least of its instances' types in the first
    bucket).

    Buckets are ``period_seconds`` long and start at the window's ``timeAt`` (after,
    between), else at the entity's earliest selected instant; without a period the whole
    window is one bucket, ending at ``endTimeAt`` or the latest instant."""
    col, flt = _history_filter(entity_ids, attrs, dataset_ids, time_property, rel, start, end,
                               since)
    flt.add(f"{col} IS NOT NULL")
    params = list(flt.params)

    def arg(value: Any, cast: str) -> str:
        params.append(value)
        return f"${len(params)}::{cast}"

    origin = (arg(start, "timestamptz") if rel in ("after", "between")
              else "min(t) OVER (PARTITION BY entity_id)")
    figures = ", ".join(f"{AGGREGATES[m]} AS m{k}" for k, m in enumerate(methods))
    # the attribute's type: its instances' least in the first bucket, read per row in the
    # buckets unless the first bucket can be read apart (below)
    typ = "min(i.data->>'type')"
    first = "(array_agg(g.typ ORDER BY g.b))[1]"  # the first bucket's
    if period_seconds and period_seconds >= 1e-6:
        # date_bin: the bucket's start, in whole microseconds (no numeric epoch per row)
        stride = f"make_interval(secs => {arg(period_seconds, 'float8')})"
        bucket = f"date_bin({stride}, t, origin)"
        bounds = f"b AS bucket_start, b + {stride} AS bucket_end"
        if time_property == "observedAt":
            # the first bucket is [min(b), min(b) + stride) on the index, exactly date_bin's:
            # a few rows' jsonb per attribute instead of every row's
            typ = "NULL::text"
            first = (f"(SELECT min(i.data->>'type') FROM {schema}.temporal_instances i"
                     " WHERE i.entity_id = g.entity_id AND i.attr = g.attr"
                     " AND i.dataset_id IS NOT DISTINCT FROM g.dataset_id"
                     f" AND i.observed_at >= min(g.b) AND i.observed_at < min(g.b) + {stride}"
                     f" AND {flt.where()})")
    elif period_seconds:  # shorter than date_bin's microsecond
        secs = arg(period_seconds, "float8")
        bucket = f"floor(extract(epoch FROM t - origin) / {secs})::bigint"
        bounds = (f"min(origin) + make_interval(secs => b * {secs}) AS bucket_start,"
                  f" min(origin) + make_interval(secs => (b + 1) * {secs}) AS bucket_end")
    else:
        bucket = "0::bigint"
        last = arg(end, "timestamptz") if rel == "between" else "max(last_t)"
        bounds = f"min(origin) AS bucket_start, {last} AS bucket_end"
    # the window functions only when a bound depends on them: a window sorts every selected
    # instance, data and all, by entity (100 stations x 7 days of readings: an external
    # sort, 0.6 s); with both bounds given the instances go straight into the hash groups
    last_t = ("max(t) OVER (PARTITION BY entity_id)" if "last_t" in bounds
              else "NULL::timestamptz")
    # one row per entity, attribute and datasetId, its buckets in arrays, the bounds as
    # epoch microseconds: 16,800 rows of two timestamps each (100 stations x 168 hours)
    # took longer to sort by their texts and to decode in the client than the sums. The
    # arrays of a row are aligned (one aggregation reads its rows in one order), not sorted:
    # an ORDER BY sorts each array apart; the reader sorts the buckets by start
    us = "array_agg((extract(epoch FROM g.bucket_{0}) * 1000000)::int8)"
    arrays = ", ".join([f"{us.format('start')} AS start_us", f"{us.format('end')} AS end_us",
                        *(f"array_agg(g.m{k}) AS m{k}" for k in range(len(methods)))])
    sql = (
        f"SELECT g.entity_id, g.attr, g.dataset_id, {first} AS typ, {arrays} FROM ("
        f" SELECT entity_id, attr, dataset_id, b, {typ} AS typ, {bounds}, {figures} FROM ("
        f"  SELECT z.*, {bucket} AS b FROM ("
        f"    SELECT y.*, {origin} AS origin, {last_t} AS last_t FROM ("
        f"      SELECT i.*, {col} AS t FROM {schema}.temporal_instances i"
        f"      WHERE {flt.where()}) y) z) i"
        "  GROUP BY entity_id, attr, dataset_id, b) g"
        " GROUP BY g.entity_id, g.attr, g.dataset_id"
        " ORDER BY g.entity_id, g.attr, g.dataset_id")
    return await con.fetch(sql, *params)


async def heads_page(
    con: asyncpg.Connection, schema: str, types: list[str] | None, ids: list[str] | None,
    id_pattern: str | None, limit: int, offset: int, descending: bool,
    access: tuple[str, list[Any]] | None, count: bool,
    order_by: str | None = None, expand: Callable[[str], str] | None = None,
) -> tuple[list[tuple[str, list[str], str | None]], int | None]:
    """A page of temporal entities (id, types, owning dataset) ordered by id, and their
    number when ``count``; ``access`` is access control's condition on ``t``, so page and
    count cover only what the caller may see. ``id_pattern`` is matched by PostgreSQL's
    regex engine, bounded by the statement timeout, after a literal test
    (``regex_condition``).

    ``order_by`` (V1.9 ``orderBy`` beyond ``id``, as the ETSI suite's 021_23 asks) sorts
    by the entity's current state, the way an entity query does (``compile_order_by`` on
    ``e``): the attributes' present values, ``createdAt`` of the entity (or of its history
    when it has no current state); entities lacking a key sort last, then by id."""
    flt = Filter()
    if types is not None:
        flt.add("t.types && {}::text[]", types)
    if ids is not None:
        flt.add("t.id = ANY({}::text[])", ids)
    if id_pattern is not None:
        sql, values = regex_condition("t.id", id_pattern)
        flt.add(sql, *values)
    if access is not None:
        flt.add(access[0], *access[1])
    n = len(flt.params)
    way = "DESC" if descending else "ASC"
    source, keys = f"{schema}.temporal_entities t", f"t.id {way}"
    extra: list[str] = []
    if order_by is not None and expand is not None:
        exprs, extra = compile_order_by(order_by, expand, n + 1)
        source += f" LEFT JOIN {schema}.entities e ON e.id = t.id"
        keys = ", ".join([*(x.replace("e.id ", "t.id ").replace(
            "e.types[1]", "coalesce(e.types[1], t.types[1])").replace(
            "e.created_at", "coalesce(e.created_at, t.created_at)").replace(
            "e.modified_at", "coalesce(e.modified_at, t.modified_at)") for x in exprs),
            "t.id"])
    m = n + len(extra)
    rows = await con.fetch(
        f"SELECT t.id, t.types, t.dataset FROM {source} WHERE {flt.where()}"
        f" ORDER BY {keys} LIMIT ${m + 1} OFFSET ${m + 2}", *flt.params, *extra, limit,
        offset)
    total = None
    if count:
        total = int(await con.fetchval(
            f"SELECT count(*) FROM {schema}.temporal_entities t WHERE {flt.where()}",
            *flt.params))
    return [(r["id"], list(r["types"]), r["dataset"]) for r in rows], total


# -- storage housekeeping: monthly partitions of temporal_instances (migration 0050) --------

_PARENT = "temporal_instances"
_DEFAULT = "temporal_instances_default"
#: the columns a row is moved with (``num`` is generated from ``data``, never written)
_STORED = "pk, entity_id, attr, instance_id, dataset_id, observed_at, data"


def _month(d: date, k: int = 0) -> date:
    """The first day of the month ``k`` months after ``d``'s."""
    m = d.year * 12 + d.month - 1 + k
    return date(m // 12, m % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"{_PARENT}_{month:%Y%m}"


def _utc(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


async def partitions(con: asyncpg.Connection, schema: str) -> dict[date, str]:
    """The monthly partitions of ``temporal_instances``: first day of month -> table."""
    rows = await con.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = $1::regclass", f"{schema}.{_PARENT}")
    out: dict[date, str] = {}
    for r in rows:
        suffix = r["relname"].removeprefix(_PARENT + "_")
        if suffix.isdigit() and len(suffix) == 6:
            out[date(int(suffix[:4]), int(suffix[4:]), 1)] = r["relname"]
    return out


async def ensure_partitions(con: asyncpg.Connection, schema: str, today: date,
                            ahead: int) -> list[str]:
    """Create the partitions of last month to ``ahead`` months on, and of every month whose
    rows fell into the default partition (a late or very old reading), moving those rows
    in. Each month in its own transaction; returns the tables created."""
    async with con.transaction():
        stray = await con.fetch(
            f"SELECT DISTINCT date_trunc('month', observed_at AT TIME ZONE 'UTC')::date AS m"
            f" FROM {schema}.{_DEFAULT} WHERE observed_at IS NOT NULL")
    wanted = {_month(today, k) for k in range(-1, ahead + 1)} | {r["m"] for r in stray}
    made = []
    for month in sorted(wanted - set(await partitions(con, schema))):
        made.append(await _create_partition(con, schema, month))
    return made


async def _create_partition(con: asyncpg.Connection, schema: str, month: date) -> str:
    """The partition of ``month``, attached after its rows left the default partition
    (ATTACH refuses a range the default still holds rows of). The default partition is
    locked against writes for the move: a reading of that month arriving meanwhile waits,
    then lands in the new partition."""
    name = partition_name(month)
    lo, hi = _utc(month), _utc(_month(month, 1))
    async with con.transaction():
        await con.execute(f"LOCK TABLE {schema}.{_DEFAULT} IN EXCLUSIVE MODE")
        # the generated ``num`` (migration 0070) stays generated: ATTACH requires it
        await con.execute(f"CREATE TABLE {schema}.{name}"
                          f" (LIKE {schema}.{_PARENT} INCLUDING DEFAULTS INCLUDING GENERATED)")
        await con.execute(
            f"WITH moved AS (DELETE FROM {schema}.{_DEFAULT}"
            f" WHERE observed_at >= $1 AND observed_at < $2 RETURNING *)"
            f" INSERT INTO {schema}.{name} ({_STORED}) SELECT {_STORED} FROM moved", lo, hi)
        await con.execute(f"ALTER TABLE {schema}.{_PARENT} ATTACH PARTITION {schema}.{name}"
                          f" FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')")
    return name


async def expire_partitions(con: asyncpg.Connection, schema: str,
                            before: datetime) -> list[str]:
    """Drop every monthly partition that ends at or before ``before`` (the longest
    retention of any dataset): bulk expiry, no row-by-row delete. Rows without observedAt
    (default partition) are never expired this way."""
    gone = []
    for month, name in sorted((await partitions(con, schema)).items()):
        if _utc(_month(month, 1)) <= before:
            async with con.transaction():
                await con.execute(f"ALTER TABLE {schema}.{_PARENT}"
                                  f" DETACH PARTITION {schema}.{name}")
                await con.execute(f"DROP TABLE {schema}.{name}")
            gone.append(name)
    return gone


async def attribute_names(con: asyncpg.Connection, schema: str, entity_ids: list[str],
                          attrs: list[str] | None) -> list[tuple[str, str]]:
    """(entity id, attribute) of every attribute with history, within ``attrs`` (the
    readable ones): a cut history still names the attributes it cut away (6.3.x)."""
    rows = await con.fetch(
        f"SELECT DISTINCT entity_id, attr FROM {schema}.temporal_instances"
        " WHERE entity_id = ANY($1::text[]) AND ($2::text[] IS NULL OR attr = ANY($2))",
        entity_ids, attrs)
    return [(r["entity_id"], r["attr"]) for r in rows]
