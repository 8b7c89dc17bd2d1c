"""``q=a~="pattern"`` is driven by the string rows of ``a`` holding the pattern's literal
(``qlang_sql.pattern_driver``, issue #13), read when a bounded walk leaves the page
short and for counts. The candidate set must be a superset of the
matches whatever the value's shape, so every answer is compared with the plain jsonpath
evaluation (``USE_VALUE_INDEX`` off): strings past the index's cut (``TXT_PREFIX``),
arrays, several instances, language maps, vocab and JSON properties, relationships
(which ``~=`` never matches), numbers and case-insensitive patterns."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hub.query import qlang_sql
from hub.query.values import TXT_PREFIX
from hub.store import entities as store
from tests.integration.helpers import JSON

E = "/ngsi-ld/v1/entities"
LONG = "x" * (TXT_PREFIX + 20) + "nagano-bridge"  # the literal beyond the index's cut
VALUES: list[Any] = [
    {"type": "Property", "value": "nagano-bridge"},
    {"type": "Property", "value": "Nagano-Bridge"},
    {"type": "Property", "value": "ueda-bridge"},
    {"type": "Property", "value": LONG},
    {"type": "Property", "value": ["x", "nagano-bridge-2"]},
    [{"type": "Property", "value": "x"},
     {"type": "Property", "value": "over nagano-bridge", "datasetId": "urn:ngsi-ld:d:1"}],
    {"type": "LanguageProperty", "languageMap": {"ja": "長野橋", "en": "nagano-bridge"}},
    {"type": "VocabProperty", "vocab": "nagano-bridge"},
    {"type": "JsonProperty", "json": "nagano-bridge"},
    {"type": "Relationship", "object": "urn:ngsi-ld:Bridge:nagano-bridge"},
    {"type": "Property", "value": 12345},
    {"type": "Property", "value": {"name": "nagano-bridge"}},
]
PATTERNS = ["nagano-bridge", "^nagano-bridge$", "over nagano", "nagano-bridge-[0-9]",
            "(?i)NAGANO-bridge", "Nagano-B", "長野", "bridge$", "12345", "name"]


@pytest.mark.parametrize("pattern", PATTERNS)
async def test_pattern_answers_equal_the_plain_evaluation(
        client: TestClient, pattern: str, monkeypatch: pytest.MonkeyPatch) -> None:
    batch = [{"id": f"urn:ngsi-ld:Bridge:{i}", "type": "Bridge", "name": v}
             for i, v in enumerate(VALUES)]
    batch.append({"id": "urn:ngsi-ld:Bridge:none", "type": "Bridge",
                  "other": {"type": "Property", "value": "nagano-bridge"}})
    resp = await client.post("/ngsi-ld/v1/entityOperations/create", json=batch, headers=JSON)
    assert resp.status == 201, await resp.text()

    async def ids(q: str) -> list[str]:
        r = await client.get(E, params={"type": "Bridge", "q": q, "limit": "100"})
        assert r.status == 200, await r.text()
        found = sorted(e["id"] for e in await r.json())
        r = await client.get(E, params={"type": "Bridge", "q": q, "count": "true",
                                        "limit": "1"})
        assert r.headers["NGSILD-Results-Count"] == str(len(found))
        return found

    # the walk stops after one entity, so a page comes from the candidate set
    monkeypatch.setattr(store, "WALK_ENTITIES", 1)

    for q in (f'name~="{pattern}"', f'name~="{pattern}";name!="zzz"'):
        driven = await ids(q)
        monkeypatch.setattr(qlang_sql, "USE_VALUE_INDEX", False)
        plain = await ids(q)
        monkeypatch.setattr(qlang_sql, "USE_VALUE_INDEX", True)
        assert driven == plain, (q, driven, plain)
    if pattern == "nagano-bridge":  # not vacuous: the cut, the array, the instances
        assert {"urn:ngsi-ld:Bridge:3", "urn:ngsi-ld:Bridge:4",
                "urn:ngsi-ld:Bridge:5"} <= set(driven)
