"""An ordered walk along strings starts at ``q``'s string bound on the walked attribute.

``q=s>="v5"&orderBy=s`` walked every string below ``v5`` before its first match, gave up
at ``WALK_ROWS`` and sorted every match (497 ms at 200,000 entities, issue #13). The walk
now starts at the bound (``qlang_sql.Bound``, ``store.entities._walk_sql``), which is
right only when each entity holds at most one string for the attribute: an entity with
two or more distinct strings carries the attribute's marker row (``values.index_rows``,
migration 0096 for entities stored before), with which the ascending bound does not
apply and no descending walk runs. These tests hold every plan's pages to the plain
sort's, and the sort's to a Python oracle, over values chosen to trip the bound: a first
string below the bound and a second above it, strings that differ only past the index's
cut, a string beside a number, relationship targets (no sort key), and bounds between
neighbours.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hub import keys
from hub.query.values import TXT_PREFIX
from hub.store import entities as store
from tests.integration.helpers import backfill_restores, unmarked
from tests.integration.order_oracle import Walked, bounded_walks_agree, create

E = "/ngsi-ld/v1/entities"
MIGRATION = "0096_multi_string_markers.sql"
EARLIER = ("0092_order_markers.sql", "0094_multi_value_markers.sql")  # the other markers
CUT = "k" * TXT_PREFIX
VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
WORDS = ["a", "b", "c", "ca", "cz", "d", "k", CUT + "a", CUT + "b", "m", "n", "p", "pz", "z"]
QUERIES = ['s>="c"', 's>"c"', 's>="cb"', 's<="m"', 's<"m"', 's=="c".."n"', 's>="c";s<"p"',
           f's>="{CUT}b"', f's<="{CUT}a"', 's>="c";m==1', 's>="n"|s<"b"', 's>="d";(m==0|m==2)']


def _entities(marked: bool) -> list[dict[str, Any]]:
    """``s`` one string each (and some without it, a relationship, a string beside a
    number); with ``marked``, some entities hold two strings — a first instance below the
    bounds and another above, or an array — or a string beside a vocab, which q compares
    expanded; each writes the attribute's marker row."""
    rnd = random.Random(96)
    out = []
    for i in range(240):
        ent: dict[str, Any] = {"id": f"urn:ngsi-ld:T:{i:03d}", "type": "T",
                               "m": {"type": "Property", "value": rnd.randint(0, 2)}}
        kind = i % 10
        if kind == 9:
            pass  # no s
        elif kind == 8:  # a relationship: its target is an index row, its sort key NULL
            ent["s"] = {"type": "Relationship", "object": f"urn:ngsi-ld:X:{rnd.choice(WORDS)}"}
        elif kind == 7:  # a string and a number: one of each kind, no marker
            first, other = rnd.choice([("d", 5), (5, "d"), ("n", 0)])
            ent["s"] = [{"type": "Property", "value": first},
                        {"type": "Property", "value": other, "datasetId": "urn:ngsi-ld:d:1"}]
        elif kind == 6 and marked:
            ent["s"] = [{"type": "Property", "value": rnd.choice(["a", "b"])},
                        {"type": "Property", "value": rnd.choice(["p", "z"]),
                         "datasetId": "urn:ngsi-ld:d:1"}]
        elif kind == 5 and marked:
            ent["s"] = {"type": "Property", "value": [rnd.choice(["a", "b"]), "pz"]}
        elif kind == 4 and marked:  # vocab compares q's literal expanded: "c" is VOCAB + "c"
            ent["s"] = [{"type": "Property", "value": VOCAB + rnd.choice(["a", "c", "n"])},
                        {"type": "VocabProperty", "vocab": rnd.choice(["a", "c", "n"]),
                         "datasetId": "urn:ngsi-ld:d:1"}]
        else:
            ent["s"] = {"type": "Property", "value": rnd.choice(WORDS)}
        out.append(ent)
    return out


@pytest.mark.parametrize("marked", [False, True])
async def test_bounded_string_walks_agree_with_the_sort(client: TestClient, marked: bool,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    await bounded_walks_agree(client, _entities(marked), QUERIES, "s", monkeypatch)


async def test_the_string_bound_is_where_the_walk_starts(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Matches far past the first strings: without the bound the walk gives up at its
    row limit and the sort answers; with it the walk answers, ascending and descending.
    A marker row (an entity with two strings) takes the ascending bound away."""
    ents = [{"id": f"urn:ngsi-ld:T:{i:03d}", "type": "T",
             "s": {"type": "Property", "value": f"v{i:03d}"}} for i in range(400)]
    await create(client, ents)
    walked = Walked(monkeypatch)

    async def page(q: str, order: str) -> list[int]:
        r = await client.get(E, params={"type": "T", "q": q, "orderBy": order, "limit": "5"})
        assert r.status == 200, await r.text()
        return [int(e["id"][-3:]) for e in await r.json()]

    monkeypatch.setattr(store, "CANDIDATES", 0)  # never a small candidate set: the walk
    monkeypatch.setattr(store, "WALK_ROWS", 50)
    assert await page('s>="v150"', "s") == [150, 151, 152, 153, 154]
    assert walked.take() == 5
    assert await page('s>"v150"', "s") == [151, 152, 153, 154, 155]
    assert walked.take() == 5
    # an upper bound: the walk starts at "v300" as written, not at the larger of it and
    # its expanded form (https://...), which only a vocab member compares
    assert await page('s<="v300"', "s;desc") == [300, 299, 298, 297, 296]
    assert walked.take() == 5
    assert await page('s=="v100".."v390"', "s") == [100, 101, 102, 103, 104]
    assert walked.take() == 5
    # a range of 61 strings as written is a set small enough to sort (WALK_AMONG); bounded
    # by the expanded forms too, it was every string from "v200" on, and was walked
    assert await page('s=="v200".."v260"', "s") == [200, 201, 202, 203, 204]
    assert walked.take() == 0
    # an upper-case literal sorts below its expanded form: the walk still starts at it
    upper = [{"id": f"urn:ngsi-ld:U:{i:03d}", "type": "U",
              "s": {"type": "Property", "value": f"V{i:03d}"}} for i in range(400)]
    await create(client, upper)
    r = await client.get(E, params={"type": "U", "q": 's<="V300"', "orderBy": "s;desc",
                                    "limit": "2"})
    assert [e["id"][-3:] for e in await r.json()] == ["300", "299"]
    assert walked.take() == 2
    assert await page('s>="v150"', "id") == [150, 151, 152, 153, 154]  # no walk
    assert walked.take() == 0
    two = {"id": "urn:ngsi-ld:T:two", "type": "T",
           "s": [{"type": "Property", "value": "a"},
                 {"type": "Property", "value": "w", "datasetId": "urn:ngsi-ld:d:1"}]}
    await create(client, [two])
    # its first value, "a", sorts it first; its other, "w", makes it match
    r = await client.get(E, params={"type": "T", "q": 's>="v150"', "orderBy": "s",
                                    "limit": "3"})
    assert [e["id"][-3:] for e in await r.json()] == ["two", "150", "151"]
    assert walked.take() == 0  # no bound with a marker: the walk gives up, the sort answers
    r = await client.get(E, params={"type": "T", "q": 's<="v300"', "orderBy": "s;desc",
                                    "limit": "3"})
    assert [e["id"][-3:] for e in await r.json()] == ["300", "299", "298"]
    assert walked.take() == 0  # a marker: no descending walk at all


async def test_the_migration_back_fills_the_string_markers(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Entities stored before the strings' markers: without them a bounded walk loses the
    entity whose first string is below the bound; 0096 writes back exactly the markers of
    attributes with two or more distinct strings, resetting those entities' fingerprints
    and changing no attribute; 0092 and 0094 then add the rest; a second run of 0096 adds
    nothing. The bounded walk is right again."""
    ents = _entities(True)
    await create(client, ents)
    pool = client.app[keys.POOL]
    async with pool.acquire() as con:
        attrs0, rows0 = await unmarked(con)
    params = {"type": "T", "q": 's>="p"', "orderBy": "s", "limit": "10"}
    monkeypatch.setattr(store, "WALK_AMONG", 0)  # never a small candidate set: the walk
    monkeypatch.setattr(store, "WALK_AMONG_DEPTH", 0)
    walked = Walked(monkeypatch)
    r = await client.get(E, params=params)
    lost = [e["id"] for e in await r.json()]
    assert walked.take() == 10
    monkeypatch.setattr(store, "WALK_PAGE", 0)  # the plain sort
    r = await client.get(E, params=params)
    want = [e["id"] for e in await r.json()]
    assert len(lost) == len(want) == 10
    assert lost != want  # the entities with "a" or "b" first, sorted first, were skipped
    several = {(pk, attr) for pk, rs in rows0.items() for attr in {x[0] for x in rs}
               if len(strings := {x[2] for x in rs if x[0] == attr and x[2] is not None}) >= 2
               or (strings and any("vocab" in i for i in attrs0[pk][attr]))}
    assert len(several) >= 60  # the two-string instances, arrays and vocabs of s
    async with pool.acquire() as con:
        await backfill_restores(con, MIGRATION, several, EARLIER, (attrs0, rows0))
    monkeypatch.setattr(store, "WALK_PAGE", 500)
    r = await client.get(E, params=params)
    assert [e["id"] for e in await r.json()] == want
