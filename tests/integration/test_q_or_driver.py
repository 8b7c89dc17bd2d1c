"""A disjunction in ``q`` is driven by the union of its items' candidate sets (issue #13).

``q=rain>50|level>3`` is how a flood watch asks for either reading over its threshold.
Without a candidate set of its own such a term was decided entity by entity in pk order
(the walk probes both terms' index rows for each): a handful of matches among 200,000
entities read 43,000 buffers (~141 ms). ``qlang_sql._either`` gives the term the union
of its items' sets, each a superset of what matches its item, and where every item is
answered by its index rows alone, the term's own SQL as the probe its members pass. The
answers are compared with the jsonpath oracle under both plans, pages and counts.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hub.store import entities as store
from tests.integration.helpers import JSON
from tests.integration.order_oracle import (
    create_analyzed,
    driven_plans_agree,
    entities_read,
    page_plan,
    typed_q_filter,
)

E = "/ngsi-ld/v1/entities"
CREATE = "/ngsi-ld/v1/entityOperations/create"
VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"


def _entity(i: int) -> dict[str, Any]:
    """``a`` a number, an array, a string, a string that is a term's expanded form, or a
    relationship; ``b`` a number on two thirds of them, a second instance on some."""
    ent: dict[str, Any] = {"id": f"urn:ngsi-ld:T:{i:04d}", "type": "T"}
    kind = i % 5
    if kind == 0:
        ent["a"] = {"type": "Property", "value": i % 50}
    elif kind == 1:
        ent["a"] = {"type": "Property", "value": [i % 7, 40 + i % 11]}
    elif kind == 2:
        ent["a"] = {"type": "Property", "value": ["x", "y", "z"][i % 3]}
    elif kind == 3:  # the index holds it as "x"'s expanded form; only a vocab compares so
        ent["a"] = {"type": "Property", "value": VOCAB + "x"}
    else:
        ent["a"] = {"type": "Relationship", "object": f"urn:r:{i % 4}"}
    if i % 3:
        ent["b"] = {"type": "Property", "value": i % 20}
    if i % 7 == 0:
        ent["b"] = [{"type": "Property", "value": 100},
                    {"type": "Property", "value": "w", "datasetId": "urn:ngsi-ld:d:1"}]
    return ent


QUERIES = [
    "a>=45|b>=19",  # two attributes, both exact: the term is its own probe
    'a=="x"|b==3',  # an inexact item (two forms of "x"): members still probed
    "a==urn:r:1|a<2",  # a relationship target or a number
    "(a>=40;b<5)|b==100",  # a conjunction's first driven item stands for it
    "(a>=48|b==7)|a==urn:r:3",  # nested
    "a>=45|b>=19;a<49",  # with another term: two candidate sets intersected
    'a~="x"|b==7',  # a pattern has no set of its own: no driver for the term
    "a>=45|!b",  # neither has absence
    'a>=0|b>="w"',  # dense
]


@pytest.mark.parametrize("q", QUERIES)
async def test_disjunctions_agree_with_the_oracle(client: TestClient, q: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    resp = await client.post(CREATE, json=[_entity(i) for i in range(150)], headers=JSON)
    assert resp.status == 201, await resp.text()

    exact = await driven_plans_agree(client, q, monkeypatch, limit=7, offset=2)
    assert 2 < len(exact) < 150, "each query matches some of the entities, not all"


def test_the_union_is_a_driver_only_when_every_item_has_a_set() -> None:
    driven = typed_q_filter("T", "a>=45|b>=19")
    assert len(driven.drivers) == 1 and " UNION ALL " in driven.drivers[0]
    # every item is exact: the candidates need no probe of their own
    probe = driven.probes[driven.drivers[0]]
    assert driven.implied() == [probe] and probe in driven.where()
    assert not typed_q_filter("T", 'a=="x"|b==3').implied()
    assert not typed_q_filter("T", 'a~="x"|b==7').drivers


def _counters() -> list[dict[str, Any]]:
    """3,000 entities, ``a`` rising and ``b`` falling with the pk."""
    return [{"id": f"urn:ngsi-ld:T:{i:05d}", "type": "T",
             "a": {"type": "Property", "value": i},
             "b": {"type": "Property", "value": 3000 - i}} for i in range(3000)]


async def test_a_rare_disjunction_reads_its_candidates(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Four matches among 3,000 entities: the page reads those entities, where a walk in
    pk order read all 3,000."""
    await create_analyzed(client, _counters())
    monkeypatch.setattr(store, "CANDIDATES", 100)
    r = await client.get(E, params={"type": "T", "q": "a>=2998|b>=2999", "limit": "20"})
    assert r.status == 200, await r.text()
    assert [e["id"] for e in await r.json()] == [
        "urn:ngsi-ld:T:00000", "urn:ngsi-ld:T:00001", "urn:ngsi-ld:T:02998",
        "urn:ngsi-ld:T:02999"]
    found = [n for n in await page_plan(client, typed_q_filter("T", "a>=2998|b>=2999"))
             if n["Actual Loops"]]
    assert entities_read(found) <= 8, found


async def test_a_dense_disjunction_probes_the_entities_it_walks(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every one of 3,000 entities matches, the candidate bound is 100: the page walks
    the key and checks each entity it reads by its own index rows, where PostgreSQL
    would hash all 6,000 rows of both terms for a page of 20."""
    await create_analyzed(client, _counters())
    monkeypatch.setattr(store, "CANDIDATES", 100)
    r = await client.get(E, params={"type": "T", "q": "a>=0|b>=0", "limit": "20"})
    assert [e["id"] for e in await r.json()] == [f"urn:ngsi-ld:T:{i:05d}" for i in range(20)]
    found = [n for n in await page_plan(client, typed_q_filter("T", "a>=0|b>=0"))
             if n["Actual Loops"]]
    # the candidate sets stop one past the bound (2 x 101 rows at most); then 20 probes
    rows = sum(n["Actual Rows"] * n["Actual Loops"] for n in found
               if n.get("Relation Name") == "entity_values")
    assert rows <= 300, found
