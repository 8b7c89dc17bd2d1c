"""Roles from the registry: the platform operator is configured (``operator_organisations``,
the world configures 長野県 200000), never inferred from the shape of an organisation's
code. 東京都 (130001) has a prefecture's code but is not configured: every operator power
is refused to it, and nothing stored changes.
"""

from __future__ import annotations

from hub import keys
from registry import RegistryRepository
from registry.model import organisation_from_json
from tests.integration.authz_world import BASE, JSON, NAGANO, PREF, World
from tests.security.conftest import Digest

TOKYO = "130001"  # 東京都: NN000 + check digit, a prefecture's shape
REG = "/registry/v1"


async def _tokyo(w: World) -> None:
    repo = RegistryRepository(w.http.app[keys.POOL])
    await repo.save_organisation(organisation_from_json(
        {"id": TOKYO, "name": {"ja": "東京都", "en": "Tokyo Metropolis"}}))
    await w.login("tokyo-admin", TOKYO, ["manage"])
    await w.refresh()


async def test_a_prefecture_shaped_code_is_not_the_operator(w: World, digest: Digest) -> None:
    await _tokyo(w)
    resp = await w.http.get(BASE + "/entities", params={"type": "Gauge"},
                            headers=w.auth("pref"))  # audited reads of Nagano's data
    assert resp.status == 200
    await digest.seal()
    me = w.auth("tokyo-admin", **JSON)
    # clients for another organisation (a write client for Nagano city)
    resp = await w.http.post("/authz/v1/clients", headers=me, json={
        "organisation": NAGANO, "name": "takeover", "scopes": ["read", "write"]})
    assert resp.status == 403, await resp.text()
    # every client and every grant: only its own
    resp = await w.http.get("/authz/v1/clients", headers=me)
    assert resp.status == 200
    assert {c["organisation"] for c in await resp.json()} == {TOKYO}
    resp = await w.http.get("/authz/v1/grants", headers=me)
    assert resp.status == 200 and await resp.json() == []
    # every audit row: only rows about its own datasets (it owns none)
    resp = await w.http.get("/authz/v1/audit", headers=me)
    assert resp.status == 200 and await resp.json() == []
    # a client of another organisation is as if it did not exist
    nagano_client = w.clients["nagano"]["client_id"]
    resp = await w.http.delete(f"/authz/v1/clients/{nagano_client}", headers=me)
    assert resp.status == 404
    resp = await w.http.post(f"/authz/v1/clients/{nagano_client}/rotate", headers=me, json={})
    assert resp.status == 404
    # signing keys
    resp = await w.http.post("/authz/v1/keys/rotate", headers=me, json={})
    assert resp.status == 403
    # a rate above the ceiling
    resp = await w.http.post("/authz/v1/clients", headers=me, json={
        "name": "fast", "scopes": ["read"], "rate_per_minute": 1_000_000})
    assert resp.status == 403, await resp.text()
    # the registry: others' datasets and organisations, new organisations
    ds = await (await w.http.get(f"{REG}/datasets/nagano-rain")).json()
    edited = {k: v for k, v in ds.items() if k not in ("createdAt", "modifiedAt")}
    edited["keywords"] = ["乗っ取り"]
    resp = await w.http.put(f"{REG}/datasets/nagano-rain", headers=me, json=edited)
    assert resp.status == 403, await resp.text()
    resp = await w.http.delete(f"{REG}/datasets/nagano-rain", headers=me)
    assert resp.status == 403
    resp = await w.http.put(f"{REG}/organisations/{NAGANO}", headers=me,
                            json={"id": NAGANO, "name": {"ja": "乗っ取り"}})
    assert resp.status == 403
    resp = await w.http.post(f"{REG}/organisations", headers=me,
                             json={"id": "202029", "name": {"ja": "松本市"}})
    assert resp.status == 403


async def test_the_configured_operator_keeps_its_powers(world: World) -> None:
    """The positive control (no digest: these succeed and change data): the same
    requests by the configured operator are allowed."""
    w = world
    resp = await w.http.get(BASE + "/entities", params={"type": "Gauge"},
                            headers=w.auth("pref"))
    assert resp.status == 200
    me = w.auth("pref", **JSON)
    resp = await w.http.post("/authz/v1/clients", headers=me, json={
        "organisation": NAGANO, "name": "nagano ops", "scopes": ["read"],
        "rate_per_minute": 1_000_000})
    assert resp.status == 201, await resp.text()
    resp = await w.http.get("/authz/v1/audit", headers=me)
    rows = await resp.json()
    assert resp.status == 200 and any(r["owner_org"] == NAGANO for r in rows)
    resp = await w.http.post(f"{REG}/organisations", headers=me,
                             json={"id": "202029", "name": {"ja": "松本市"}})
    assert resp.status == 201, await resp.text()
    assert PREF in w.http.app[keys.SETTINGS].operator_organisations
