"""``idPattern`` in PostgreSQL (issue #13): a literal every match contains is tested
first (``hub/query/regex_literal.py``), and the answer must be exactly what the regex
alone selects — including ids where the literal stands in the middle, not at the start."""

from __future__ import annotations

import pytest
import re2
from aiohttp.test_utils import TestClient

from hub.store import entities as store
from tests.integration.helpers import JSON

E = "/ngsi-ld/v1/entities"
T = "/ngsi-ld/v1/temporal/entities"
IDS = [f"urn:ngsi-ld:Sensor:{n}" for n in (1, 12, 120, 1234, 2, 21, 312)] + [
    "urn:ngsi-ld:Sensor:x-urn:ngsi-ld:Sensor:12",  # the literal in the middle
    "urn:ngsi-ld:Sensor:a.b", "urn:ngsi-ld:Sensor:aXb", "urn:ngsi-ld:Sensor:A12",
    "urn:ngsi-ld:Other:12",
]
PATTERNS = [
    "urn:ngsi-ld:Sensor:12.*", "^urn:ngsi-ld:Sensor:12", "Sensor:12$", "Sensor:1+2",
    "Sensor:a\\.b", "Sensor:a.b", "Sensor:(1|2)1", "Sensor:12|Other", "sensor:12",
    "(?i)sensor:a12", "[SO][et][nh]\\w*:12", "Sensor:\\d{3}$", ".*", "nothing-like-this",
]


@pytest.mark.parametrize("pattern", PATTERNS)
async def test_id_pattern_selects_what_the_regex_selects(client: TestClient,
                                                         pattern: str) -> None:
    batch = [{"id": i, "type": "Sensor", "n": {"type": "Property", "value": 1,
                                                "observedAt": "2026-01-01T00:00:00Z"}}
             for i in IDS]
    resp = await client.post("/ngsi-ld/v1/entityOperations/create", json=batch, headers=JSON)
    assert resp.status == 201, await resp.text()
    expected = sorted(i for i in IDS if re2.search(pattern, i))
    resp = await client.get(E, params={"idPattern": pattern, "limit": "100",
                                       "type": "Sensor"})
    assert resp.status == 200, await resp.text()
    assert sorted(e["id"] for e in await resp.json()) == expected
    resp = await client.get(T, params={"idPattern": pattern, "type": "Sensor",
                                       "timerel": "after", "timeAt": "2000-01-01T00:00:00Z"})
    assert resp.status == 200, await resp.text()
    assert sorted(e["id"] for e in await resp.json()) == expected


@pytest.mark.parametrize("pattern", ["urn:ngsi-ld:Sensor:12.*", "Sensor:a\\.b", "Sensor:1+2",
                                     "^urn:ngsi-ld:Sensor:", "nothing-like-this"])
async def test_a_walk_cut_short_goes_on_with_the_ids_holding_the_literal(
        client: TestClient, pattern: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ``WALK_ENTITIES`` entities without a full page, the page comes from the ids
    holding the pattern's literal (``Filter.lazy``): every page and offset is still
    exactly the regex's selection in pk order."""
    batch = [{"id": i, "type": "Sensor"} for i in IDS]
    resp = await client.post("/ngsi-ld/v1/entityOperations/create", json=batch, headers=JSON)
    assert resp.status == 201, await resp.text()
    expected = [i for i in IDS if re2.search(pattern, i)]  # created in this order: pk order
    monkeypatch.setattr(store, "WALK_ENTITIES", 3)
    calls = 0
    fetch_page = store._fetch_page

    async def counted(*args: object, **kw: object) -> object:
        nonlocal calls
        calls += 1
        return await fetch_page(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "_fetch_page", counted)
    for limit, offset in ((2, 0), (2, 1), (100, 0), (1, 2)):
        resp = await client.get(E, params={"idPattern": pattern, "type": "Sensor",
                                           "limit": str(limit), "offset": str(offset)})
        assert resp.status == 200, await resp.text()
        assert [e["id"] for e in await resp.json()] == expected[offset:offset + limit]
    resp = await client.get(E, params={"idPattern": pattern, "type": "Sensor",
                                       "count": "true", "limit": "1"})
    assert resp.headers["NGSILD-Results-Count"] == str(len(expected))
    if len(expected) < 3:  # the walk could not fill a page: the lazy set answered
        assert calls > 5, calls
