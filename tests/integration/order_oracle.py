"""The order an entity query's ``orderBy`` must give, computed in Python: the oracle the
walk and sort tests compare every plan against (``ORDER BY attrs -> name -> 0 -> 'value'``
per key, NULLS LAST both ways, ties by creation), and the helpers those tests share."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hub import keys
from hub.query import qlang_sql
from hub.query.qlang import parse_q
from hub.query.qlang_sql import compile_q
from hub.store import entities as store
from tests.integration.helpers import JSON

__all__ = ["Walked", "answers", "bounded_walks_agree", "count_plan", "create", "create_analyzed",
           "driven_plans_agree", "entities_read", "every_plan", "geo_plan", "oracle",
           "page_plan", "plan_nodes", "typed_q_filter"]

VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"


def _rank(v: Any) -> tuple[Any, ...]:
    """jsonb's order: objects > arrays > booleans > numbers > strings, strings in code-point
    order (the test databases collate in byte order: C or C.UTF-8)."""
    if isinstance(v, bool):
        return (3, v)
    if isinstance(v, int | float):
        return (2, Decimal(str(v)))
    if isinstance(v, str):
        return (1, v)
    if isinstance(v, list):
        return (4, len(v), [_rank(x) for x in v])
    assert isinstance(v, dict)
    return (5, len(v), sorted((k, _rank(x)) for k, x in v.items()))


def _key(ent: dict[str, Any], name: str) -> Any:
    """What ``attrs -> name -> 0 -> 'value'`` holds, None for SQL NULL."""
    v = ent.get(name)
    first = v[0] if isinstance(v, list) else v
    return None if first is None or "value" not in first else _rank(first["value"])


def oracle(ents: list[dict[str, Any]], pks: dict[str, int], order: str) -> list[str]:
    keys_ = [(k.partition(";")[0], k.partition(";")[2] == "desc") for k in order.split(",")]

    def cmp(a: dict[str, Any], b: dict[str, Any]) -> int:
        for name, desc in keys_:
            ra, rb = _key(a, name), _key(b, name)
            if ra is None or rb is None:  # NULLS LAST both ways
                if (ra is None) != (rb is None):
                    return 1 if ra is None else -1
                continue
            if ra != rb:
                return (1 if ra > rb else -1) * (-1 if desc else 1)
        return pks[a["id"]] - pks[b["id"]]

    return [e["id"] for e in sorted(ents, key=functools.cmp_to_key(cmp))]


async def create(client: TestClient, ents: list[dict[str, Any]]) -> dict[str, int]:
    """Create ``ents`` in batches; their pks by id."""
    for start in range(0, len(ents), 200):
        resp = await client.post("/ngsi-ld/v1/entityOperations/create",
                                 json=ents[start:start + 200], headers=JSON)
        assert resp.status == 201, await resp.text()
    async with client.app[keys.POOL].acquire() as con:
        return {r["id"]: r["pk"] for r in await con.fetch("SELECT id, pk FROM ngsild.entities")}


async def create_analyzed(client: TestClient, ents: list[dict[str, Any]]) -> None:
    """``create``, then statistics and a visibility map as a loaded tenant has them (the
    plans under test are chosen by them)."""
    await create(client, ents)
    async with client.app[keys.POOL].acquire() as con:
        await con.execute("VACUUM ANALYZE ngsild.entities, ngsild.entity_values")


async def driven_plans_agree(client: TestClient, q: str, monkeypatch: pytest.MonkeyPatch,
                             limit: int = 7, offset: int = 3) -> list[str]:
    """A page with its count and every match of ``type=T&q=<q>`` are the same whether
    the candidate set answers, the pk walk answers, or no value index is used at all
    (the jsonpath oracle); the oracle's matches."""
    async def answer() -> tuple[list[str], list[str], str]:
        params = {"type": "T", "q": q, "limit": str(limit), "offset": str(offset),
                  "count": "true"}
        page = await client.get("/ngsi-ld/v1/entities", params=params)
        assert page.status == 200, await page.text()
        everything = await client.get("/ngsi-ld/v1/entities",
                                      params={"type": "T", "q": q, "limit": "1000"})
        return ([e["id"] for e in await page.json()],
                [e["id"] for e in await everything.json()],
                page.headers["NGSILD-Results-Count"])

    with monkeypatch.context() as m:
        m.setattr(store, "CANDIDATES", 10**6)  # always the candidate branch
        candidates = await answer()
        m.setattr(store, "CANDIDATES", 0)  # never: always the pk walk
        walked = await answer()
        m.setattr(qlang_sql, "USE_VALUE_INDEX", False)  # the oracle: no index at all
        exact = await answer()
    assert candidates == walked == exact
    return exact[1]


def entities_read(nodes: list[dict[str, Any]]) -> int:
    """The entity rows the scans of an executed plan (``plan_nodes``) read: those they
    returned and those their filters removed."""
    return sum((n["Actual Rows"] + n.get("Rows Removed by Filter", 0)) * n["Actual Loops"]
               for n in nodes if n.get("Relation Name") == "entities")


async def answers(client: TestClient, params: dict[str, str],
                  pages: tuple[tuple[int, int], ...]) -> list[list[str]]:
    """The ids of each (offset, limit) page of an entity query."""
    out = []
    for offset, limit in pages:
        r = await client.get("/ngsi-ld/v1/entities",
                             params={**params, "offset": str(offset), "limit": str(limit)})
        assert r.status == 200, (params, await r.text())
        out.append([e["id"] for e in await r.json()])
    return out


class Walked:
    """Counts the rows an ordered walk answered with (flagged ``walked``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.rows = 0
        real = store.row_to_entity

        def row(r: Any) -> dict[str, Any]:
            self.rows += bool(r.get("walked"))
            return real(r)

        monkeypatch.setattr(store, "row_to_entity", row)

    def take(self) -> int:
        n, self.rows = self.rows, 0
        return n


async def every_plan(client: TestClient, params: dict[str, str],
                     pages: tuple[tuple[int, int], ...],
                     monkeypatch: pytest.MonkeyPatch) -> dict[str, list[list[str]]]:
    """The pages under each plan an ordered query can take: as chosen, the walk filtered
    by any candidate set (and with too short a bound), the walk (and with too short a
    bound), strings unwalked (a collation not in byte order), the plain sort."""
    got = {"default": await answers(client, params, pages)}
    with monkeypatch.context() as m:
        m.setattr(store, "WALK_AMONG", 1)  # any candidate set: the filtered walk
        m.setattr(store, "WALK_AMONG_DEPTH", 0)
        got["filtered walk"] = await answers(client, params, pages)
        m.setattr(store, "WALK_AMONG_ROWS", 12)  # ... too short: sorted after all
        got["short filtered walk"] = await answers(client, params, pages)
    with monkeypatch.context() as m:
        m.setattr(store, "CANDIDATES", 0)  # never a small candidate set: the walk
        got["walk"] = await answers(client, params, pages)
        m.setattr(store, "WALK_ROWS", 12)  # tie groups and pages beyond the bound
        got["short walk"] = await answers(client, params, pages)
        m.setattr(store, "_BYTEWISE", "false")  # another collation: strings never walked
        got["unwalked strings"] = await answers(client, params, pages)
        m.setattr(store, "WALK_PAGE", 0)  # the plain sort
        got["sort"] = await answers(client, params, pages)
    return got


async def bounded_walks_agree(client: TestClient, ents: list[dict[str, Any]],
                              queries: list[str], attr: str,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Each ``q`` of ``queries``, ordered by ``attr`` both ways and with a second key
    ``m``: every plan's pages equal the plain sort's, and the sort's the Python order of
    what it matched (the bounded-walk tests, numbers and strings)."""
    pks = await create(client, ents)
    by_id = {e["id"]: e for e in ents}
    pages = ((0, 5), (3, 7), (18, 20), (0, 1000))
    sizes = []
    for q in queries:
        for order in (attr, f"{attr};desc", f"{attr},m", f"{attr};desc,m"):
            params = {"type": "T", "q": q, "orderBy": order}
            got = await every_plan(client, params, pages, monkeypatch)
            sort = got.pop("sort")
            sizes.append(len(sort[-1]))
            want = oracle([by_id[i] for i in sort[-1]], pks, order)
            assert sort == [want[o:o + n] for o, n in pages], (q, order)
            for plan, answer in got.items():
                assert answer == sort, (q, order, plan)
    assert min(sizes) > 0 and max(sizes) > 100, sizes


async def page_plan(client: TestClient, flt: store.Filter,
                    check_sql: Callable[[str], bool] = lambda sql: True) -> list[dict[str, Any]]:
    """Every node of the executed plan (``EXPLAIN ANALYZE``) of the first statement
    ``store._fetch_page`` sends for a page of 20 of ``flt``; ``check_sql`` must hold of
    that statement's text."""
    captured: list[tuple[str, tuple[Any, ...]]] = []

    class Recording:
        async def fetch(self, sql: str, *args: Any) -> list[Any]:
            captured.append((sql, args))
            return []

    await store._fetch_page(Recording(), "ngsild", flt, 20, 0)  # type: ignore[arg-type]
    sql, args = captured[0]
    assert check_sql(sql), sql
    async with client.app[keys.POOL].acquire() as con:
        raw = await con.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args)

    return plan_nodes(raw)


async def count_plan(client: TestClient, flt: store.Filter) -> list[dict[str, Any]]:
    """Every node of the executed plan of the statement ``store.count_entities`` sends
    for ``flt``."""
    captured: list[tuple[str, tuple[Any, ...]]] = []

    class Recording:
        async def fetchval(self, sql: str, *args: Any) -> int:
            captured.append((sql, args))
            return 0

    await store.count_entities(Recording(), '"ngsild"', flt)  # type: ignore[arg-type]
    sql, args = captured[0]
    async with client.app[keys.POOL].acquire() as con:
        raw = await con.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args)
    return plan_nodes(raw)


def typed_q_filter(type_name: str, q: str) -> store.Filter:
    """``type=<type_name>&q=<q>`` compiled as the service compiles it, terms in the
    default vocabulary, no access condition (development mode)."""
    flt = store.Filter(conditions=["e.types @> ARRAY[$1::text]"], params=[VOCAB + type_name],
                       schema='"ngsild"')
    frag = compile_q(parse_q(q), lambda term: VOCAB + term, first_param=2)
    flt.add_fragment(frag.sql, frag.params)
    flt.drivers.extend(frag.drivers)
    flt.probes.update(frag.probes)
    return flt


async def geo_plan(client: TestClient, get: Callable[[], Any], reader: str = "geo_candidates"
                   ) -> list[dict[str, Any]]:
    """The executed nodes of the first read of geo candidates for the request ``get`` (a
    coroutine function) sends: ``store.geo_candidates`` for a page of 20, or
    ``store.geo_rows`` (every match, as a count reads them), the plan made with
    sequential scans off (a test's few rows would be read whole)."""
    seen: list[tuple[store.Filter, str]] = []
    reading = getattr(store, reader)

    async def recording(con: Any, schema: str, flt: store.Filter, attr: str,
                        **kw: Any) -> Any:
        seen.append((flt, attr))
        return await reading(con, schema, flt, attr, **kw)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(store, reader, recording)
        await get()
    flt, attr = seen[0]
    captured: list[tuple[str, tuple[Any, ...]]] = []

    class Recording:
        async def fetch(self, sql: str, *args: Any) -> list[Any]:
            captured.append((sql, args))
            return []

        async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any]:
            captured.append((sql, args))
            return {"pks": None, "xs": None, "ys": None, "others": None}

    if reader == "geo_rows":
        await store.geo_rows(Recording(), '"ngsild"', flt, attr)  # type: ignore[arg-type]
    else:
        await store.geo_candidates(Recording(), '"ngsild"', flt,  # type: ignore[arg-type]
                                   attr, limit=28, rows=True)
    sql, args = captured[0]
    async with client.app[keys.POOL].acquire() as con, con.transaction():
        await con.execute("SET LOCAL enable_seqscan = off")
        raw = await con.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args)
    return [n for n in plan_nodes(raw) if n.get("Actual Loops")]


def plan_nodes(raw: Any) -> list[dict[str, Any]]:
    """Every node of an ``EXPLAIN (FORMAT JSON)`` result, depth first."""
    def nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
        return [node] + [n for c in node.get("Plans", []) for n in nodes(c)]

    return nodes((json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"])
