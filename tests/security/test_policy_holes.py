"""Personal data is never raw, whatever the grant form (issue #12, class 4).

Ueda's library loans (``ueda-loans``) are personal data. A grant by owner + entity type
used to reach them raw, since only dataset grants were checked; and a dataset that became
personal after a grant was approved stayed readable through it. Each attack is refused and
changes nothing stored (the digest of tests/security/conftest.py, sealed after set-up).
"""

from __future__ import annotations

from typing import Any

import asyncpg

from tests.integration.authz_world import BASE, LOANS, UEDA, World
from tests.security.conftest import Digest

LATER = "2099-01-01T00:00:00Z"
LOAN_ID = "urn:ngsi-ld:Loans:ueda-1"


def typed_grant(**kw: Any) -> dict[str, Any]:
    body = {"owner": UEDA, "entity_type": LOANS, "actions": ["read"], "purpose": "flood-app",
            "valid_from": "2020-01-01T00:00:00Z", "valid_until": LATER}
    body.update(kw)
    return body


async def set_personal(w: World, personal: bool) -> None:
    """The registry's flag, changed by the operator behind the hub's back."""
    con = await asyncpg.connect(w.url)
    try:
        await con.execute("UPDATE registry.datasets SET personal_data = $1"
                          " WHERE id = 'ueda-loans'", personal)
    finally:
        await con.close()
    await w.refresh()


async def firm_sees_no_loans(w: World) -> None:
    """Every raw way of reading: retrieve, query, count, /types, temporal."""
    resp = await w.http.get(f"{BASE}/entities/{LOAN_ID}", headers=w.auth("firm"))
    assert resp.status == 404, await resp.text()
    resp = await w.http.get(f"{BASE}/entities?type=Loans&count=true", headers=w.auth("firm"))
    assert resp.status == 200 and await resp.json() == []
    assert resp.headers["NGSILD-Results-Count"] == "0"
    resp = await w.http.get(f"{BASE}/types", headers=w.auth("firm"))
    assert LOANS not in orjson_text(await resp.text())
    resp = await w.http.post(f"{BASE}/entityOperations/query",
                             json={"type": "Query", "entities": [{"type": "Loans"}]},
                             headers=w.auth("firm"))
    assert resp.status == 200 and await resp.json() == []


def orjson_text(text: str) -> str:
    return text.replace("\\/", "/")


async def test_owner_and_type_raw_grant_on_personal_data_is_refused(
        w: World, digest: Digest) -> None:
    resp = await w.http.post("/authz/v1/grants", json=typed_grant(),
                             headers=w.auth("firm-admin"))
    assert resp.status == 400, await resp.text()
    assert "aggregated" in (await resp.json())["detail"]
    await firm_sees_no_loans(w)


async def test_owner_and_type_aggregated_grant_on_personal_data_is_accepted(
        w: World, digest: Digest) -> None:
    gid = await w.grant(typed_grant(granularity="aggregated", min_group_size=3), "firm")
    await digest.seal()
    assert await w.count("SELECT count(*) FROM authz.grants WHERE id = $1::uuid"
                         " AND status = 'approved'", gid) == 1
    await firm_sees_no_loans(w)  # aggregated never yields an entity


async def test_raw_typed_grant_stops_when_the_dataset_becomes_personal(
        w: World, digest: Digest) -> None:
    await set_personal(w, False)
    await w.grant(typed_grant(), "firm")
    resp = await w.http.get(f"{BASE}/entities/{LOAN_ID}", headers=w.auth("firm"))
    assert resp.status == 200, await resp.text()  # the grant works while not personal
    await set_personal(w, True)
    await digest.seal()
    await firm_sees_no_loans(w)


async def test_raw_dataset_grant_stops_when_the_dataset_becomes_personal(
        w: World, digest: Digest) -> None:
    await set_personal(w, False)
    await w.grant({"dataset": "ueda-loans", "actions": ["read"], "purpose": "flood-app",
                   "valid_from": "2020-01-01T00:00:00Z", "valid_until": LATER}, "firm")
    await set_personal(w, True)
    await digest.seal()
    await firm_sees_no_loans(w)  # counts too: the SQL condition drops the grant


async def test_approving_a_raw_grant_after_the_dataset_became_personal_is_refused(
        w: World, digest: Digest) -> None:
    await set_personal(w, False)
    gid = await w.grant(typed_grant(), "firm", approve=False)
    await set_personal(w, True)
    await digest.seal()
    resp = await w.http.post(f"/authz/v1/grants/{gid}/approve", json={},
                             headers=w.auth("ueda-admin"))
    assert resp.status == 400, await resp.text()
    assert await w.count("SELECT count(*) FROM authz.grants WHERE id = $1::uuid"
                         " AND status = 'requested'", gid) == 1
    await firm_sees_no_loans(w)
