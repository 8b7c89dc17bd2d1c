"""Access control end to end over HTTP with real tokens against real PostgreSQL:
the authorization server, the grant flow, SQL-filtered reads, owner-only writes, audit."""

from __future__ import annotations

import asyncio
import base64
import logging
import time

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from hub import keys
from tests.integration.authz_world import (
    BASE,
    BATTERY,
    FIRM,
    GAUGE,
    ISSUER,
    JSON,
    NAGANO,
    RAIN,
    UEDA,
    World,
    gauge,
    world,
)

__all__ = ["world"]

SOON = "2026-01-01T00:00:00Z"
LATER = "2099-01-01T00:00:00Z"


def rain_grant(**kw: object) -> dict[str, object]:
    body: dict[str, object] = {"dataset": "nagano-rain", "actions": ["read"],
                               "purpose": "flood-app", "valid_from": SOON,
                               "valid_until": LATER, "attributes": [RAIN]}
    body.update(kw)
    return body


async def ids(resp: object) -> list[str]:
    body = await resp.json()  # type: ignore[attr-defined]
    return sorted(e["id"] for e in body)


async def test_metadata_and_jwks(world: World) -> None:
    meta = await (await world.http.get("/.well-known/oauth-authorization-server")).json()
    assert meta["issuer"] == ISSUER and meta["token_endpoint"] == ISSUER + "/oauth2/token"
    jwks = await (await world.http.get("/oauth2/jwks")).json()
    assert jwks["keys"] and all("d" not in k and k["alg"] == "ES256" for k in jwks["keys"])


async def test_private_partner_sees_nothing_without_a_grant(world: World) -> None:
    resp = await world.http.get(BASE + "/entities?type=Gauge&count=true",
                                headers=world.auth("firm"))
    assert resp.status == 200 and await resp.json() == []
    assert resp.headers["NGSILD-Results-Count"] == "0"
    resp = await world.http.get(BASE + "/entities/urn:ngsi-ld:Gauge:nagano-1",
                                headers=world.auth("firm"))
    assert resp.status == 404


async def test_grant_flow_request_approve_read_revoke(world: World) -> None:
    gid = await world.grant(rain_grant(), "firm", approve=False)
    # requested only: no effect yet
    resp = await world.http.get(BASE + "/entities/urn:ngsi-ld:Gauge:nagano-1",
                                headers=world.auth("firm"))
    assert resp.status == 404
    listed = await (await world.http.get("/authz/v1/grants?status=requested",
                                         headers=world.auth("nagano-admin"))).json()
    assert [g["id"] for g in listed] == [gid]
    # Ueda cannot decide Nagano's grant
    resp = await world.http.post(f"/authz/v1/grants/{gid}/approve", json={},
                                 headers=world.auth("ueda-admin"))
    assert resp.status == 404
    resp = await world.http.post(f"/authz/v1/grants/{gid}/approve",
                                 json={"reason": "flood warning app"},
                                 headers=world.auth("nagano-admin"))
    assert resp.status == 200 and (await resp.json())["status"] == "approved"
    resp = await world.http.get(BASE + "/entities/urn:ngsi-ld:Gauge:nagano-1",
                                headers=world.auth("firm"))
    assert resp.status == 200
    body = await resp.json()
    assert "rain" in body and "battery" not in body  # attributes removed per grant
    resp = await world.http.get(BASE + "/entities?type=Gauge&count=true&limit=2",
                                headers=world.auth("firm"))
    assert resp.headers["NGSILD-Results-Count"] == "3"  # count over what it may see
    assert all(e["id"].startswith("urn:ngsi-ld:Gauge:nagano-") for e in await resp.json())
    resp = await world.http.get(BASE + "/entities?type=Gauge&limit=2&offset=2",
                                headers=world.auth("firm"))
    assert await ids(resp) == ["urn:ngsi-ld:Gauge:nagano-2"]
    # the owner revokes: it stops
    resp = await world.http.post(f"/authz/v1/grants/{gid}/revoke", json={},
                                 headers=world.auth("nagano-admin"))
    assert resp.status == 200
    resp = await world.http.get(BASE + "/entities/urn:ngsi-ld:Gauge:nagano-1",
                                headers=world.auth("firm"))
    assert resp.status == 404
    # a rejected or revoked grant cannot be approved again
    resp = await world.http.post(f"/authz/v1/grants/{gid}/approve", json={},
                                 headers=world.auth("nagano-admin"))
    assert resp.status == 400


async def test_rejected_grant_never_takes_effect(world: World) -> None:
    gid = await world.grant(rain_grant(), "firm", approve=False)
    resp = await world.http.post(f"/authz/v1/grants/{gid}/reject", json={"reason": "no"},
                                 headers=world.auth("nagano-admin"))
    assert (await resp.json())["status"] == "rejected"
    resp = await world.http.get(BASE + "/entities?type=Gauge", headers=world.auth("firm"))
    assert await resp.json() == []


async def test_owner_type_grant_uses_full_iri(world: World) -> None:
    await world.grant({"owner": UEDA, "entity_type": GAUGE, "actions": ["read"],
                       "purpose": "flood-app", "valid_from": SOON, "valid_until": LATER},
                      "firm")
    resp = await world.http.get(BASE + "/entities?type=Gauge", headers=world.auth("firm"))
    assert await ids(resp) == [f"urn:ngsi-ld:Gauge:ueda-{n}" for n in range(3)]
    resp = await world.http.post("/authz/v1/grants", json={
        "owner": UEDA, "entity_type": "Gauge", "actions": ["read"], "purpose": "x",
        "valid_from": SOON, "valid_until": LATER}, headers=world.auth("firm-admin"))
    assert resp.status == 400


async def test_open_data_is_anonymous_read_only(world: World) -> None:
    resp = await world.http.get(BASE + "/entities/urn:ngsi-ld:River:chikuma")
    assert resp.status == 200
    resp = await world.http.get(BASE + "/entities?type=Gauge")
    assert await resp.json() == []
    resp = await world.http.patch(BASE + "/entities/urn:ngsi-ld:River:chikuma",
                                  json={"level": {"type": "Property", "value": 9}},
                                  headers=JSON)
    assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_prefecture_reads_by_default_but_not_personal_data(world: World) -> None:
    resp = await world.http.get(BASE + "/entities?type=Gauge&count=true",
                                headers=world.auth("pref"))
    assert resp.headers["NGSILD-Results-Count"] == "6"
    resp = await world.http.get(BASE + "/entities/urn:ngsi-ld:Loans:ueda-1",
                                headers=world.auth("pref"))
    assert resp.status == 404


async def test_municipalities_do_not_see_each_other_by_default(world: World) -> None:
    resp = await world.http.get(BASE + "/entities?type=Gauge", headers=world.auth("ueda"))
    assert await ids(resp) == [f"urn:ngsi-ld:Gauge:ueda-{n}" for n in range(3)]


async def test_writes_only_by_the_owner(world: World) -> None:
    patch = {"rain": {"type": "Property", "value": 99.0}}
    resp = await world.http.patch(BASE + "/entities/urn:ngsi-ld:Gauge:nagano-1", json=patch,
                                  headers=world.auth("ueda", **JSON))
    assert resp.status in (403, 404)
    resp = await world.http.post(BASE + "/entities", json=gauge("nagano", 9, 1.0),
                                 headers=world.auth("ueda", **JSON))
    assert resp.status == 403
    resp = await world.http.get(BASE + "/entities/urn:ngsi-ld:Gauge:nagano-1",
                                headers=world.auth("nagano"))
    assert (await resp.json())["rain"]["value"] == 15.0
    resp = await world.http.patch(BASE + "/entities/urn:ngsi-ld:Gauge:nagano-1", json=patch,
                                  headers=world.auth("nagano", **JSON))
    assert resp.status == 204


async def test_types_and_attributes_are_filtered(world: World) -> None:
    await world.grant(rain_grant(), "firm")
    types = await (await world.http.get(BASE + "/types", headers=world.auth("firm"))).json()
    assert sorted(types["typeList"]) == ["Gauge", "River"]
    attrs = await (await world.http.get(BASE + "/attributes",
                                        headers=world.auth("firm"))).json()
    assert "battery" not in attrs["attributeList"] and "rain" in attrs["attributeList"]
    anon = await (await world.http.get(BASE + "/types")).json()
    assert anon["typeList"] == ["River"]
    resp = await world.http.get(BASE + "/types/Loans", headers=world.auth("firm"))
    assert resp.status == 404


async def test_audit_tells_the_owner_who_read_and_why(world: World) -> None:
    await world.grant(rain_grant(), "firm")
    await world.http.get(BASE + "/entities/urn:ngsi-ld:Gauge:nagano-1",
                         headers=world.auth("firm"))
    await world.http.get(BASE + "/entities/urn:ngsi-ld:Gauge:ueda-1",
                         headers=world.auth("firm"))
    rows = await (await world.http.get("/authz/v1/audit",
                                       headers=world.auth("nagano-admin"))).json()
    mine = [r for r in rows if r["organisation"] == FIRM]
    assert mine and mine[0]["allowed"] and mine[0]["rule"] == "grant"
    assert mine[0]["purpose"] == "flood-app" and mine[0]["target"].endswith("nagano-1")
    assert all(r["owner_org"] == NAGANO for r in rows)
    ueda_rows = await (await world.http.get("/authz/v1/audit?allowed=false",
                                            headers=world.auth("ueda-admin"))).json()
    assert any(r["organisation"] == FIRM and r["rule"] == "default-deny" for r in ueda_rows)


async def test_token_revocation_and_introspection(world: World) -> None:
    client = world.clients["firm"]
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode())
    headers = {"Authorization": "Basic " + basic.decode()}
    token = world.tokens["firm"]
    info = await (await world.http.post("/oauth2/introspect", data={"token": token},
                                        headers=headers)).json()
    assert info["active"] and info["organisation"] == FIRM
    resp = await world.http.post("/oauth2/revoke", data={"token": token}, headers=headers)
    assert resp.status == 200
    resp = await world.http.get(BASE + "/entities?type=River", headers=world.auth("firm"))
    assert resp.status == 401 and 'error="invalid_token"' in resp.headers["WWW-Authenticate"]
    info = await (await world.http.post("/oauth2/introspect", data={"token": token},
                                        headers=headers)).json()
    assert info == {"active": False}


async def test_revocation_reaches_another_process_within_the_refresh(world: World) -> None:
    """A second hub app on the same database sees a revocation within authz_refresh."""
    from aiohttp.test_utils import TestClient, TestServer

    from hub.app import create_app
    from tests.integration.authz_world import enforced_settings

    other = create_app(enforced_settings(world.url))
    async with TestClient(TestServer(other)) as http2:
        token = world.tokens["nagano"]
        resp = await http2.get(BASE + "/entities?type=Gauge",
                               headers={"Authorization": f"Bearer {token}"})
        assert resp.status == 200
        client = world.clients["nagano"]
        basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode())
        await world.http.post("/oauth2/revoke", data={"token": token},
                              headers={"Authorization": "Basic " + basic.decode()})
        await asyncio.sleep(1.2)  # authz_refresh is 0.5 s in these tests
        resp = await http2.get(BASE + "/entities?type=Gauge",
                               headers={"Authorization": f"Bearer {token}"})
        assert resp.status == 401


async def test_client_management_api(world: World) -> None:
    resp = await world.http.post("/authz/v1/clients", json={"name": "etl", "scopes": ["read"]},
                                 headers=world.auth("nagano-admin"))
    assert resp.status == 201
    created = await resp.json()
    assert created["client_secret"] and created["organisation"] == NAGANO
    listed = await (await world.http.get("/authz/v1/clients",
                                         headers=world.auth("nagano-admin"))).json()
    assert all("client_secret" not in c for c in listed)
    assert all(c["organisation"] == NAGANO for c in listed)
    stored = await world.count("SELECT count(*) FROM authz.clients WHERE secret_hash LIKE"
                               " 'scrypt$%' AND secret_hash NOT LIKE '%' || $1 || '%'",
                               created["client_secret"])
    assert stored >= 1
    status, _ = await world.token(created)
    assert status == 200
    resp = await world.http.post(f"/authz/v1/clients/{created['client_id']}/rotate", json={},
                                 headers=world.auth("nagano-admin"))
    rotated = await resp.json()
    assert rotated["client_secret"] != created["client_secret"]
    assert (await world.token(created))[0] == 401
    assert (await world.token(rotated))[0] == 200
    # Ueda cannot touch Nagano's clients; a firm cannot create clients for others
    resp = await world.http.delete(f"/authz/v1/clients/{created['client_id']}",
                                   headers=world.auth("ueda-admin"))
    assert resp.status == 404
    resp = await world.http.post("/authz/v1/clients", json={"name": "x", "organisation": UEDA},
                                 headers=world.auth("firm-admin"))
    assert resp.status == 403
    resp = await world.http.post("/authz/v1/clients", json={"name": "x",
                                                            "organisation": "202100"},
                                 headers=world.auth("pref"))
    assert resp.status == 400  # not a registered organisation
    resp = await world.http.delete(f"/authz/v1/clients/{created['client_id']}",
                                   headers=world.auth("nagano-admin"))
    assert resp.status == 204
    assert (await world.token(rotated))[0] == 401


async def test_deleted_clients_tokens_stop(world: World) -> None:
    cid = world.clients["ueda"]["client_id"]
    resp = await world.http.delete(f"/authz/v1/clients/{cid}", headers=world.auth("ueda-admin"))
    assert resp.status == 204
    await world.refresh()
    resp = await world.http.get(BASE + "/entities?type=Gauge", headers=world.auth("ueda"))
    assert resp.status == 401


async def test_key_rotation_keeps_old_tokens_valid(world: World) -> None:
    old = world.tokens["nagano"]
    resp = await world.http.post("/authz/v1/keys/rotate", headers=world.auth("pref"))
    assert resp.status == 200 and (await resp.json())["retired"] == 1
    jwks = await (await world.http.get("/oauth2/jwks")).json()
    assert len(jwks["keys"]) == 2
    resp = await world.http.get(BASE + "/entities?type=Gauge", headers={
        "Authorization": f"Bearer {old}"})
    assert resp.status == 200
    fresh = await world.login("nagano2", NAGANO, ["read"])
    assert _kid(fresh) != _kid(old) and _kid(fresh) in {k["kid"] for k in jwks["keys"]}
    resp = await world.http.post("/authz/v1/keys/rotate", headers=world.auth("nagano-admin"))
    assert resp.status == 403


async def test_private_key_jwt_over_http_and_replay(world: World) -> None:
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    client = await world.new_client("signer", FIRM, ["read"], auth_method="private_key_jwt",
                                    jwks={"keys": [key.as_dict(private=False)]})
    assert "client_secret" not in client
    now = int(time.time())
    assertion = jwt.encode({"alg": "ES256", "kid": "k1"}, {
        "iss": client["client_id"], "sub": client["client_id"],
        "aud": ISSUER + "/oauth2/token", "iat": now, "exp": now + 60, "jti": "once"}, key)
    form = {"grant_type": "client_credentials", "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    resp = await world.http.post("/oauth2/token", data=form)
    assert resp.status == 200, await resp.text()
    token = (await resp.json())["access_token"]
    resp = await world.http.post("/oauth2/token", data=form)  # the same assertion again
    assert resp.status == 401 and (await resp.json())["error"] == "invalid_client"
    resp = await world.http.get(BASE + "/entities?type=River",
                                headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200


def _kid(token: str) -> str:
    import orjson

    return str(orjson.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["kid"])


async def test_dev_mode_is_never_the_default_and_warns(
        database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from hub.app import create_app
    from hub.settings import Settings

    assert Settings().auth_mode == "enforce"
    assert Settings.from_env({}).auth_mode == "enforce"
    with caplog.at_level(logging.WARNING, logger="renkei.authz"):
        async with TestClient(TestServer(create_app(Settings(database_url=database_url,
                                                             auth_mode="dev")))) as c:
            resp = await c.get(BASE + "/entities?type=Gauge")
            assert resp.status == 200
    warned = [r for r in caplog.records if r.levelno == logging.WARNING
              and "DEVELOPMENT MODE" in r.getMessage()]
    assert warned


async def test_access_state_is_shared_by_the_app(world: World) -> None:
    state = world.http.app[keys.ACCESS]
    assert state.keys and state.datasets["nagano-rain"].owner == NAGANO
    assert BATTERY not in {a for g in state.grants_by_org.get(FIRM, []) for a in
                           (g.attributes or ())}


async def test_bad_management_requests_answer_problem_details(world: World) -> None:
    before = await world.count("SELECT count(*) FROM authz.grants")
    for body in ({"dataset": "nagano-rain"}, {"dataset": "nagano-rain", "purpose": "x",
                                             "valid_from": SOON, "valid_until": SOON},
                 {"owner": NAGANO, "entity_type": "Gauge", "purpose": "x",
                  "valid_from": SOON, "valid_until": LATER}):
        resp = await world.http.post("/authz/v1/grants", json=body,
                                     headers=world.auth("firm-admin"))
        problem = await resp.json()
        assert resp.status == 400 and problem["type"].endswith("/BadRequestData"), problem
    resp = await world.http.post("/authz/v1/grants", data=b"{not json",
                                 headers=world.auth("firm-admin"))
    assert resp.status == 400 and (await resp.json())["type"].endswith("/InvalidRequest")
    resp = await world.http.post("/authz/v1/grants/not-a-uuid/approve", json={},
                                 headers=world.auth("nagano-admin"))
    assert resp.status == 404
    resp = await world.http.get("/authz/v1/grants")
    assert resp.status == 401 and "WWW-Authenticate" in resp.headers
    resp = await world.http.get("/authz/v1/grants", headers=world.auth("firm"))
    assert resp.status == 403  # a read token cannot manage
    resp = await world.http.get("/authz/v1/audit?limit=0", headers=world.auth("nagano-admin"))
    assert resp.status == 400
    resp = await world.http.post("/oauth2/token", data={"grant_type": "client_credentials"})
    assert resp.status == 401 and (await resp.json())["error"] == "invalid_client"
    resp = await world.http.post("/oauth2/token", json={"grant_type": "client_credentials"})
    assert resp.status == 400 and (await resp.json())["error"] == "invalid_request"
    assert await world.count("SELECT count(*) FROM authz.grants") == before


async def test_geo_queries_show_only_granted_entities_and_attributes(world: World) -> None:
    """A geo-query's page is cut from the candidates it refined (no second read): the
    other municipality's gauges in the same area stay out, and attributes outside the
    grant are removed, as in every other query."""
    location = "https://uri.etsi.org/ngsi-ld/location"
    for who, city in (("nagano", "nagano"), ("ueda", "ueda")):
        for n in range(3):
            resp = await world.http.post(
                BASE + f"/entities/urn:ngsi-ld:Gauge:{city}-{n}/attrs",
                json={"location": {"type": "GeoProperty", "value": {
                    "type": "Point", "coordinates": [138.2 + n / 100, 36.6]}}},
                headers=world.auth(who, **JSON))
            assert resp.status == 204, await resp.text()
    near = {"type": "Gauge", "georel": "near;maxDistance==20000", "geometry": "Point",
            "coordinates": "[138.2,36.6]"}
    resp = await world.http.get(BASE + "/entities", params=near, headers=world.auth("firm"))
    assert resp.status == 200 and await resp.json() == []  # no grant yet: nothing
    await world.grant(rain_grant(attributes=[RAIN, location]), "firm")
    for params in (near, {**near, "georel": "within", "geometry": "Polygon",
                          "coordinates": "[[[138,36],[139,36],[139,37],[138,37],[138,36]]]"}):
        resp = await world.http.get(BASE + "/entities", params={**params, "limit": "2"},
                                    headers=world.auth("firm"))
        assert resp.status == 200, await resp.text()
        page = await resp.json()
        assert [e["id"] for e in page] == ["urn:ngsi-ld:Gauge:nagano-0",
                                           "urn:ngsi-ld:Gauge:nagano-1"]
        assert all(set(e) == {"id", "type", "rain", "location"} for e in page), page
        resp = await world.http.get(BASE + "/entities", headers=world.auth("firm"),
                                    params={**params, "count": "true", "offset": "2"})
        assert resp.headers["NGSILD-Results-Count"] == "3"
        assert await ids(resp) == ["urn:ngsi-ld:Gauge:nagano-2"]
    owner = await world.http.get(BASE + "/entities", params=near,
                                 headers=world.auth("nagano"))
    assert [e["id"] for e in await owner.json()] == [
        f"urn:ngsi-ld:Gauge:nagano-{n}" for n in range(3)]


@pytest.mark.parametrize("walk", [10_000, 1])
async def test_id_patterns_show_only_granted_entities(
        world: World, walk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """An idPattern's candidates (the walk, or past ``WALK_ENTITIES`` the ids holding
    its literal, ``Filter.lazy``) are only ever candidates: the access condition still
    decides, so another municipality's ids never show, whichever way the page is read."""
    from hub.store import entities as store

    monkeypatch.setattr(store, "WALK_ENTITIES", walk)
    await world.grant(rain_grant(), "firm")
    for pattern, expected in (("urn:ngsi-ld:Gauge:ueda-.*", []),
                              ("Gauge:nagano-[12]", ["urn:ngsi-ld:Gauge:nagano-1",
                                                     "urn:ngsi-ld:Gauge:nagano-2"]),
                              ("urn:ngsi-ld:Gauge:", [f"urn:ngsi-ld:Gauge:nagano-{n}"
                                                      for n in range(3)])):
        resp = await world.http.get(BASE + "/entities", headers=world.auth("firm"),
                                    params={"idPattern": pattern, "count": "true",
                                            "type": "Gauge"})
        assert resp.status == 200, await resp.text()
        assert await ids(resp) == expected, pattern
        assert resp.headers["NGSILD-Results-Count"] == str(len(expected))
