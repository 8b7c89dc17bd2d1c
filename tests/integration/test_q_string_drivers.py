"""A string ordering term's candidate set: its bound as written, and the marker rows.

``q=a<"L00010"`` compares ``a``'s values with the literal as written, except a
VocabProperty's, which compares with the literal expanded (``https://…/L00010``). The
index condition bounded the strings by the larger of the two forms (``greatest``), and
every string below ``https://`` — upper case, digits, dates — is below that: the set was
every entity with the attribute, and a rare match walked the whole tenant (48,520
buffers, ~350 ms at 200,000 entities, where ``a>="L99990"`` read 26). Now the bound is
the literal as written, and the entities whose attribute has a vocab member come from
their marker row (``values.index_rows``), as the ordered walk's string bound already
relied on (issue #13).
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


def _entity(i: int) -> dict[str, Any]:
    """``a``: a string (upper or lower case), a vocab term, a date, or two strings."""
    ent: dict[str, Any] = {"id": f"urn:ngsi-ld:T:{i:04d}", "type": "T"}
    kind = i % 5
    if kind == 0:
        ent["a"] = {"type": "Property", "value": f"L{i:05d}"}
    elif kind == 1:  # stored expanded: compared with the expanded literal
        ent["a"] = {"type": "VocabProperty", "vocab": f"L{i:05d}"}
    elif kind == 2:
        ent["a"] = {"type": "Property", "value": f"l{i:05d}"}
    elif kind == 3:
        ent["a"] = {"type": "Property", "value": f"20{i % 30:02d}-01-01"}
    else:
        ent["a"] = [{"type": "Property", "value": f"L{i:05d}"},
                    {"type": "VocabProperty", "vocab": f"m{i:05d}",
                     "datasetId": "urn:ngsi-ld:d:1"}]
    return ent


QUERIES = ['a<"L00030"', 'a<="L00041"', 'a>"l00100"', 'a>="m00100"', 'a<"2010-01-01"',
           'a=="L00010".."L00060"', 'a=="l00090".."m00120"', 'a>"L00100";a<"L00140"']


@pytest.mark.parametrize("q", QUERIES)
async def test_string_bounds_agree_with_the_oracle(client: TestClient, q: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    resp = await client.post(CREATE, json=[_entity(i) for i in range(150)], headers=JSON)
    assert resp.status == 201, await resp.text()

    exact = await driven_plans_agree(client, q, monkeypatch, limit=5, offset=1)
    assert 2 < len(exact) < 150, "each query matches some of the entities, not all"


async def test_a_rare_upper_bound_reads_its_candidates(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three matches among 3,000 upper-case strings: the page reads those entities."""
    ents = [{"id": f"urn:ngsi-ld:T:{i:05d}", "type": "T",
             "a": {"type": "Property", "value": f"L{i:05d}"}} for i in range(3000)]
    await create_analyzed(client, ents)
    monkeypatch.setattr(store, "CANDIDATES", 100)
    r = await client.get(E, params={"type": "T", "q": 'a<"L00003"', "limit": "20"})
    assert [e["id"] for e in await r.json()] == [f"urn:ngsi-ld:T:{i:05d}" for i in range(3)]
    found = [n for n in await page_plan(client, typed_q_filter("T", 'a<"L00003"'))
             if n["Actual Loops"]]
    assert entities_read(found) <= 6, found
