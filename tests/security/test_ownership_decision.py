"""One ownership decision for every write path, from the stored owner (issue #12, class 2).

The temporal API used to decide the owner from the payload's types: another organisation
could add instances to, overwrite, or pre-claim a municipality's history. Entity writes
answered 403 for an existing hidden entity and 404 for a missing one. Every attack here is
refused and leaves every table unchanged (the ``digest`` of tests/security/conftest.py).
"""

from __future__ import annotations

from typing import Any

from tests.integration.authz_world import BASE, JSON, World
from tests.security.conftest import Digest, digest, w, world

__all__ = ["digest", "w", "world"]

T = BASE + "/temporal/entities"
NAGANO_1 = "urn:ngsi-ld:Gauge:nagano-1"


def _history(eid: str, type_: str, value: float) -> dict[str, Any]:
    return {"id": eid, "type": type_,
            "rain": [{"type": "Property", "value": value,
                      "observedAt": "2026-11-22T09:00:00Z"}]}


async def _nagano_history(w: World) -> str:
    resp = await w.http.post(T, json=_history(NAGANO_1, "Gauge", 1.0),
                             headers=w.auth("nagano", **JSON))
    assert resp.status == 201, await resp.text()
    body = await (await w.http.get(f"{T}/{NAGANO_1}", headers=w.auth("nagano"))).json()
    return str(body["rain"][0]["instanceId"])


async def test_another_organisation_cannot_touch_a_history(w: World, digest: Digest) -> None:
    instance = await _nagano_history(w)
    await digest.seal()
    ueda = w.auth("ueda", **JSON)
    # the same id with the same types: the history exists but Ueda may not see it
    resp = await w.http.post(T, json=_history(NAGANO_1, "Gauge", 99.0), headers=ueda)
    assert resp.status == 409, await resp.text()
    # with types Ueda's own dataset covers (the old owner-from-payload hole)
    resp = await w.http.post(T, json=_history(NAGANO_1, "Loans", 99.0), headers=ueda)
    assert resp.status == 409, await resp.text()
    resp = await w.http.post(f"{T}/{NAGANO_1}/attrs", headers=ueda, json={
        "rain": [{"type": "Property", "value": 99.0, "observedAt": "2026-11-22T10:00:00Z"}]})
    assert resp.status == 404, await resp.text()
    resp = await w.http.patch(f"{T}/{NAGANO_1}/attrs/rain/{instance}", headers=ueda,
                              json={"value": 99.0})
    assert resp.status == 404, await resp.text()
    for path in (f"{T}/{NAGANO_1}/attrs/rain/{instance}", f"{T}/{NAGANO_1}/attrs/rain",
                 f"{T}/{NAGANO_1}"):
        resp = await w.http.delete(path, headers=w.auth("ueda"))
        assert resp.status == 404, (path, await resp.text())


async def test_nobody_pre_claims_the_history_of_anothers_entity(world: World) -> None:
    """Ueda's personal-data rule covers type Loans with any id: starting a "Loans" history
    under the id of Nagano's gauge must not take that id's history from Nagano."""
    w = world  # the owner's own write at the end is legitimate
    ueda = w.auth("ueda", **JSON)
    resp = await w.http.post(T, json=_history(NAGANO_1, "Loans", 5.0), headers=ueda)
    assert resp.status == 409, await resp.text()
    assert await w.count("SELECT count(*) FROM ngsild.temporal_entities") == 0
    # the owner still starts it
    await _nagano_history(w)


async def test_hidden_entity_answers_exactly_like_a_missing_one(w: World) -> None:
    """No existence oracle: Ueda gets the same status and error type for Nagano's gauge
    (which it may not see) as for an id that does not exist."""
    ueda = w.auth("ueda", **JSON)
    missing = "urn:ngsi-ld:Gauge:nagano-404"
    rain = {"rain": {"type": "Property", "value": 1.0}}
    calls = [("PATCH", "{}/attrs", rain), ("POST", "{}/attrs", rain),
             ("PATCH", "{}/attrs/rain", {"type": "Property", "value": 1.0}),
             ("PUT", "{}/attrs/rain", {"type": "Property", "value": 1.0}),
             ("PATCH", "{}", rain), ("DELETE", "{}/attrs/rain", None), ("DELETE", "{}", None)]
    for method, shape, body in calls:
        answers = []
        for eid in (NAGANO_1, missing):
            resp = await w.http.request(method, f"{BASE}/entities/{shape.format(eid)}",
                                        json=body, headers=ueda)
            problem = await resp.json()
            answers.append((resp.status, problem["type"]))
        assert answers[0] == answers[1], (method, shape, answers)
        assert answers[0][0] == 404, (method, shape, answers)
    resp = await w.http.post(f"{BASE}/entityOperations/update", headers=ueda,
                             json=[{"id": NAGANO_1, "type": "Gauge", **rain},
                                   {"id": missing, "type": "Gauge", **rain}])
    errors = (await resp.json())["errors"]
    kinds = {e["entityId"]: (e["error"]["status"], e["error"]["type"]) for e in errors}
    assert kinds[NAGANO_1] == kinds[missing], kinds
    body = await (await w.http.get(f"{BASE}/entities/{NAGANO_1}",
                                   headers=w.auth("nagano"))).json()
    assert body["rain"]["value"] == 15.0
