"""``orderBy`` on a string attribute read along the ``txt`` index must sort as jsonb sorts.

``store.entities._walk_sql`` walks ``entity_values (attr, txt COLLATE "C", eid)`` for an
``orderBy`` whose first key holds strings (issue #13): jsonb sorts strings before every
number, in the database's collation, which the walk may follow only where that order is
the index's byte order (``_BYTEWISE``; the test databases are C.UTF-8). The pages are
compared with an oracle sorting in Python (code-point order) under every plan, over
values chosen to trip the walk: ties, case and accents, Japanese, the empty string,
strings longer than the index's cut (``TXT_PREFIX``) that differ only past it, numbers
and booleans in the same attribute, entities without it, a string first instance with a
number in another, and both directions with a second key.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hub import keys
from hub.query.values import TXT_PREFIX
from hub.store import entities as store
from tests.integration.order_oracle import Walked, create, every_plan, oracle

E = "/ngsi-ld/v1/entities"
CREATE = "/ngsi-ld/v1/entityOperations/create"
PAGES = ((0, 5), (3, 7), (18, 20), (100, 30), (0, 1000), (290, 20))
N = 320
CUT = "x" * TXT_PREFIX
#: strings in code-point order they must come in: upper case before lower, accents and
#: kana after ASCII, cut strings ordered past the cut, a prefix before its extensions
STRINGS = ["", "B", "Z", "a", "a b", "ab", "x" * (TXT_PREFIX - 1), CUT, CUT + "a", CUT + "ab",
           CUT + "b", "x" * (TXT_PREFIX + 40), "ä", "日本", "本"]


def _entities(mixed: bool) -> list[dict[str, Any]]:
    """``s`` holds strings only (walked both ways); ``n`` — with ``mixed`` — numbers,
    booleans and a string first instance over another's number as well (walked ascending
    while strings fill the page; descending, numbers and markers close the string walk),
    and ``p`` strings and numbers without a marker."""
    rnd = random.Random(256)
    out = []
    for i in range(N):
        ent: dict[str, Any] = {"id": f"urn:ngsi-ld:T:{i:04d}", "type": "T",
                               "q": {"type": "Property", "value": rnd.randint(0, 9)},
                               "m": {"type": "Property", "value": rnd.randint(0, 3)}}
        if i % 7:
            ent["s"] = {"type": "Property", "value": rnd.choice(STRINGS)}
        if mixed:  # strings and numbers, no marker: descending, the numbers lead
            ent["p"] = {"type": "Property", "value": rnd.choice([*STRINGS, 1, 2, 40])}
        kind = i % 6
        if kind in (0, 1, 2):
            ent["n"] = {"type": "Property", "value": rnd.choice(STRINGS)}
        elif kind == 3 and mixed:
            ent["n"] = {"type": "Property", "value": rnd.choice([1, 2.5, -3, True])}
        elif kind == 4 and mixed:
            ent["n"] = [{"type": "Property", "value": rnd.choice(STRINGS)},
                        {"type": "Property", "value": 7, "datasetId": "urn:ngsi-ld:d:1"}]
        out.append(ent)  # kind 5 (and 3, 4 without mixed): no n
    return out


async def test_the_test_database_orders_strings_bytewise(client: TestClient) -> None:
    """The walk's collation gate holds here, so the tests below exercise the walk."""
    async with client.app[keys.POOL].acquire() as con:
        assert await con.fetchval(f"SELECT {store._BYTEWISE}") is True


@pytest.mark.parametrize("q", [None, "q>=2", "q==3"])
@pytest.mark.parametrize("mixed", [False, True])
async def test_string_pages_agree_with_python(client: TestClient, mixed: bool, q: str | None,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    ents = _entities(mixed)
    pks = await create(client, ents)
    matching = [e for e in ents if q is None or (
        e["q"]["value"] >= 2 if q == "q>=2" else e["q"]["value"] == 3)]
    base = {"type": "T", **({"q": q} if q else {})}
    walked = Walked(monkeypatch)
    for order in ("s", "s;desc", "s,m", "s;desc,m;desc", "n", "n;desc", "n,m", "m,s", "p",
                  "p;desc"):
        ordered = oracle(matching, pks, order)
        want = [ordered[offset:offset + limit] for offset, limit in PAGES]
        params = {**base, "orderBy": order}
        got = await every_plan(client, params, PAGES, monkeypatch)
        for plan, answer in got.items():
            assert answer == want, (order, q, mixed, plan)
    # which plan answered a first page: the string walk, ascending, and descending only
    # on the attribute without numbers or booleans
    walked.take()

    def strings(name: str) -> int:  # matches whose first value of ``name`` is a string
        firsts = [e[name][0] if isinstance(e[name], list) else e[name]
                  for e in matching if name in e]
        return sum(isinstance(f["value"], str) for f in firsts)

    for order, walks in (("s", strings("s") >= 20), ("s;desc", strings("s") >= 20),
                         ("n", strings("n") >= 20), ("n;desc", not mixed and strings("n") >= 20)):
        with monkeypatch.context() as m:
            m.setattr(store, "CANDIDATES", 0)
            r = await client.get(E, params={**base, "orderBy": order, "limit": "20"})
        assert r.status == 200
        assert (walked.take() == 20) == walks, (order, q, mixed)
    with monkeypatch.context() as m:  # another collation: strings are sorted
        m.setattr(store, "CANDIDATES", 0)
        m.setattr(store, "_BYTEWISE", "false")
        m.setattr(store, "_KIND_HINTS", {})
        statements: list[str] = []
        real = store._walk_sql

        def counted(*args: Any) -> str:
            statements.append(real(*args))
            return statements[-1]

        m.setattr(store, "_walk_sql", counted)
        for order in ("s", "s;desc"):
            statements.clear()
            r = await client.get(E, params={**base, "orderBy": order, "limit": "20"})
            assert r.status == 200 and walked.take() == 0, order
            assert len(statements) == 1, order  # the numbers' statement: no switch to strings


async def test_a_cut_boundary_reads_its_whole_group(client: TestClient,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Strings sharing the index's cut prefix tie in the index but not in the sort: a page
    ending inside such a group re-reads the group and sorts it by the whole values, and a
    group larger than the walk's bound leaves the page to the sort."""
    values = [CUT + c for c in "edcba"] * 3 + ["a", "b"]  # pks in reverse of value order
    ents = [{"id": f"urn:ngsi-ld:T:{i:02d}", "type": "T",
             "s": {"type": "Property", "value": v}} for i, v in enumerate(values)]
    await create(client, ents)
    walked = Walked(monkeypatch)

    async def page(limit: int) -> list[str]:
        r = await client.get(E, params={"type": "T", "orderBy": "s", "limit": str(limit)})
        assert r.status == 200, await r.text()
        return [e["id"][-2:] for e in await r.json()]

    # "a", "b", then CUT+"a" (ids 04, 09, 14), CUT+"b" (03, 08, 13)...
    assert await page(6) == ["15", "16", "04", "09", "14", "03"]
    assert walked.take() == 6
    monkeypatch.setattr(store, "WALK_ROWS", 10)  # the page fits, the group of 15 does not
    assert await page(6) == ["15", "16", "04", "09", "14", "03"]
    assert walked.take() == 0


async def test_integers_beyond_float8_keep_their_order(client: TestClient,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Integers past 2**53 share one float8 in the number index; the walk re-reads such a
    boundary group and sorts it by the exact values, as jsonb does."""
    big = 2**53
    values = [big + 3, big + 2, big + 1, big, 5]
    ents = [{"id": f"urn:ngsi-ld:T:{i}", "type": "T",
             "n": {"type": "Property", "value": v}} for i, v in enumerate(values)]
    await create(client, ents)
    walked = Walked(monkeypatch)
    for limit, want in ((2, ["4", "3"]), (3, ["4", "3", "2"]), (5, ["4", "3", "2", "1", "0"])):
        r = await client.get(E, params={"type": "T", "orderBy": "n", "limit": str(limit)})
        assert [e["id"][-1] for e in await r.json()] == want
        assert walked.take() == limit
    r = await client.get(E, params={"type": "T", "orderBy": "n;desc", "limit": "2"})
    assert [e["id"][-1] for e in await r.json()] == ["0", "1"]


async def test_the_kind_guesses_stay_bounded(client: TestClient,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-process guess of which kind leads (``_KIND_HINTS``) holds one entry per
    (schema, attribute, direction) walked as strings, and is emptied when full: a client
    ordering by ever new attribute names cannot grow it without end. A guess lost costs
    one statement, never an answer."""
    monkeypatch.setattr(store, "_KIND_HINTS", {})
    monkeypatch.setattr(store, "_KIND_HINTS_MAX", 3)
    names = [f"s{k}" for k in range(5)]
    ents = [{"id": f"urn:ngsi-ld:T:{i}", "type": "T",
             **{n: {"type": "Property", "value": f"v{(i * 7 + k) % 10}"}
                for k, n in enumerate(names)}} for i in range(10)]
    await create(client, ents)
    walked = Walked(monkeypatch)
    for n in names:
        r = await client.get(E, params={"type": "T", "orderBy": n, "limit": "3"})
        values = [e[n]["value"] for e in await r.json()]
        assert values == ["v0", "v1", "v2"], (n, values)
        assert walked.take() == 3
        assert 0 < len(store._KIND_HINTS) <= 3
    assert set(store._KIND_HINTS.values()) == {store._STRINGS}
    assert len(store._KIND_HINTS) == 2  # emptied at the fourth attribute, then two more
