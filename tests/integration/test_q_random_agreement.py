"""Random ``q`` expressions give the same answers under every plan (issue #13).

The store answers a query from the value index in several ways — a candidate set read
from one or more drivers (a term's rows, a range's, a disjunction's union, a string bound
and the marker rows), or a walk along the key with per-row probes — and each must agree
with the jsonpath over ``attrs`` alone (no index at all). The fixed cases elsewhere pin
each rule; this draws expressions the rules were not written for: nested ``;`` and
``|``, ranges, lists, presence and absence, over numbers, strings above and below
``https://``, dates, vocab terms, arrays, several instances and relationships. The
answers are also those of ``qlang_eval``, which decides subscriptions.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hub import keys
from hub.jsonld.process import core_active_context
from hub.query.qlang import parse_q
from hub.query.qlang_eval import evaluate_q
from hub.store.entities import row_to_entity
from tests.integration.helpers import JSON
from tests.integration.order_oracle import driven_plans_agree

STRINGS = ["L00005", "L00040", "l00020", "m00001", "2010-06-01", "2024-01-01", "x", "Z"]
NUMBERS = [-3, 0, 7, 20, 41.5, 60, 99]


def _value(rnd: random.Random) -> dict[str, Any] | list[dict[str, Any]] | None:
    kind = rnd.randrange(9)
    if kind == 0:
        return {"type": "Property", "value": rnd.choice([*NUMBERS, rnd.randint(0, 100)])}
    if kind == 1:
        return {"type": "Property", "value": rnd.choice(STRINGS)}
    if kind == 2:  # stored expanded, compared with the expanded literal
        return {"type": "VocabProperty", "vocab": rnd.choice(STRINGS)}
    if kind == 3:
        return {"type": "Property", "value": [rnd.randint(0, 100), rnd.randint(0, 100)]}
    if kind == 4:
        return [{"type": "Property", "value": rnd.randint(0, 100)},
                {"type": "Property", "value": rnd.choice(STRINGS),
                 "datasetId": "urn:ngsi-ld:d:1"}]
    if kind == 5:
        return {"type": "Relationship", "object": f"urn:r:{rnd.randrange(3)}"}
    if kind == 6:
        return {"type": "Property", "value": rnd.choice([True, False])}
    if kind == 7:
        return {"type": "ListProperty", "valueList": [rnd.randint(0, 100), "L00040"]}
    return None


def _entities(rnd: random.Random) -> list[dict[str, Any]]:
    out = []
    for i in range(120):
        ent: dict[str, Any] = {"id": f"urn:ngsi-ld:T:{i:04d}", "type": "T"}
        for name in ("a", "b"):
            if (v := _value(rnd)) is not None:
                ent[name] = v
        out.append(ent)
    return out


def _literal(rnd: random.Random) -> str:
    if rnd.random() < 0.5:
        return str(rnd.choice(NUMBERS))
    return f'"{rnd.choice(STRINGS)}"'


def _term(rnd: random.Random) -> str:
    attr = rnd.choice("ab")
    kind = rnd.randrange(10)
    if kind == 0:
        return attr if rnd.random() < 0.5 else f"!{attr}"
    if kind == 1:
        low, high = sorted(rnd.sample(NUMBERS, 2))
        return f"{attr}=={low}..{high}"
    if kind == 2:
        low, high = sorted(rnd.sample(STRINGS, 2))
        return f'{attr}=="{low}".."{high}"'
    if kind == 3:
        return f"{attr}=={_literal(rnd)},{_literal(rnd)}"
    if kind == 4:
        return f"{attr}==urn:r:{rnd.randrange(3)}"
    return f"{attr}{rnd.choice(['==', '!=', '>', '>=', '<', '<='])}{_literal(rnd)}"


def _expr(rnd: random.Random, depth: int = 0) -> str:
    if depth >= 2 or rnd.random() < 0.3:
        return _term(rnd)
    joint = rnd.choice([";", "|"])
    items = [_expr(rnd, depth + 1) for _ in range(rnd.randint(2, 3))]
    text = joint.join(items)
    return f"({text})" if depth else text


QUERIES = sorted({_expr(random.Random(seed)) for seed in range(120)})


@pytest.mark.parametrize("seed", range(4))
async def test_random_expressions_agree(client: TestClient, seed: int,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    rnd = random.Random(1000 + seed)
    resp = await client.post("/ngsi-ld/v1/entityOperations/create",
                             json=_entities(rnd), headers=JSON)
    assert resp.status == 201, await resp.text()
    async with client.app[keys.POOL].acquire() as con:
        stored = [row_to_entity(r) for r in await con.fetch(
            "SELECT e.pk, e.id, e.types, e.scopes, e.attrs, e.created_at, e.modified_at"
            " FROM ngsild.entities e ORDER BY e.pk")]
    expand = core_active_context().expand
    matched = 0
    for q in QUERIES[seed::4]:
        ids = await driven_plans_agree(client, q, monkeypatch, limit=4, offset=1)
        assert ids == [e["id"] for e in stored if evaluate_q(parse_q(q), e, expand)], q
        matched += bool(ids)
    assert matched, "some of the drawn expressions match some entities"
