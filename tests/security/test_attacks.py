"""Attacks on access control, over HTTP with real tokens against real PostgreSQL.

Each attack must be refused and leave nothing changed: every test compares the digest of
tests/security/conftest.py (every tenant's entities, history, subscriptions, contexts, the
registry, clients and grants) sealed after its set-up with the state after the attack.
"""

from __future__ import annotations

import asyncio
import base64
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from hub import keys
from hub.service.access import may_see
from tests.integration.authz_world import (
    BASE,
    FIRM,
    GAUGE,
    ISSUER,
    JSON,
    NAGANO,
    RAIN,
    UEDA,
    World,
    gauge,
)
from tests.security.conftest import Digest

LATER = "2099-01-01T00:00:00Z"
ANY_NAGANO = "urn:ngsi-ld:Gauge:nagano-"


def bearer(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


async def hub_key(w: World) -> ECKey:
    async with w.http.app[keys.POOL].acquire() as con:
        jwk = await con.fetchval("SELECT private_jwk FROM authz.signing_keys"
                                 " WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1")
    return ECKey.import_key(jwk)


def claims(**kw: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": ISSUER, "aud": ISSUER + "/ngsi-ld", "sub": "x", "client_id": "x",
            "organisation": NAGANO, "scope": "read write", "iat": now, "nbf": now,
            "exp": now + 300, "jti": f"j{time.monotonic_ns()}"}
    base.update(kw)
    return base


def b64(data: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).decode().rstrip("=")


async def assert_refused_token(w: World, token: str) -> None:
    resp = await w.http.get(BASE + f"/entities/{ANY_NAGANO}1", headers=bearer(token))
    assert resp.status == 401, await resp.text()
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]
    body = await resp.json()
    assert body["status"] == 401 and body["type"].startswith("https://uri.etsi.org/ngsi-ld/")
    resp = await w.http.patch(BASE + f"/entities/{ANY_NAGANO}1", headers=bearer(token, **JSON),
                              json={"rain": {"type": "Property", "value": 0}})
    assert resp.status == 401


# -- forged and unacceptable tokens ------------------------------------------------------

async def test_alg_none(w: World) -> None:
    token = f"{b64({'alg': 'none', 'typ': 'at+jwt', 'kid': 'x'})}.{b64(claims())}."
    await assert_refused_token(w, token)


async def test_algorithm_confusion_hmac_with_the_public_key(w: World) -> None:
    jwks = await (await w.http.get("/oauth2/jwks")).json()
    public = jwks["keys"][0]
    import hashlib
    import hmac

    for secret in (orjson.dumps(public), ECKey.import_key(public).as_pem()):
        head = f"{b64({'alg': 'HS256', 'typ': 'at+jwt', 'kid': public['kid']})}.{b64(claims())}"
        sig = hmac.new(secret, head.encode(), hashlib.sha256).digest()
        token = head + "." + base64.urlsafe_b64encode(sig).decode().rstrip("=")
        await assert_refused_token(w, token)


async def test_unconfigured_issuer(w: World) -> None:
    attacker = ECKey.generate_key("P-256", parameters={"kid": "evil"})
    token = jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": "evil"},
                       claims(iss="https://evil.example"), attacker)
    await assert_refused_token(w, token)
    # our issuer name, attacker's key
    token = jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": "evil"}, claims(), attacker)
    await assert_refused_token(w, token)


@pytest.mark.parametrize("bad", [
    {"aud": "https://another-hub.example/ngsi-ld"}, {"exp": int(time.time()) - 3600},
    {"nbf": int(time.time()) + 3600}, {"iat": int(time.time()) + 3600}, {"typ": "JWT"},
    {"typ": "id_token+jwt"},
])
async def test_wrong_audience_typ_expired_not_yet_valid(w: World, bad: dict[str, Any]) -> None:
    key = await hub_key(w)
    typ = bad.pop("typ", "at+jwt")
    # a real client of Nagano, so only the claim under test is wrong
    cid = w.clients["nagano"]["client_id"]
    token = jwt.encode({"alg": "ES256", "typ": typ, "kid": key.kid},
                       claims(client_id=cid, sub=cid, **bad), key)
    await assert_refused_token(w, token)


async def test_revoked_token(w: World, digest: Digest) -> None:
    client = w.clients["nagano"]
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode())
    resp = await w.http.post("/oauth2/revoke", data={"token": w.tokens["nagano"]},
                             headers={"Authorization": "Basic " + basic.decode()})
    assert resp.status == 200
    await digest.seal()
    await assert_refused_token(w, w.tokens["nagano"])


async def test_malformed_authorization(w: World) -> None:
    for header in ("Bearer", "Bearer not-a-jwt", "Basic abc", "Bearer a.b.c"):
        resp = await w.http.get(BASE + "/entities?type=River", headers={"Authorization": header})
        assert resp.status == 401 and "WWW-Authenticate" in resp.headers


async def test_scope_escalation(w: World, digest: Digest) -> None:
    token = await w.login("nagano-reader", NAGANO, ["read"])
    await digest.seal()
    status, body = await w.token(w.clients["firm"], scope="read write manage")
    assert status == 400 and body["error"] == "invalid_scope"
    # a read-only token cannot write, even to the owner's own data
    resp = await w.http.patch(BASE + f"/entities/{ANY_NAGANO}1", headers=bearer(token, **JSON),
                              json={"rain": {"type": "Property", "value": 0}})
    assert resp.status == 403
    resp = await w.http.get("/authz/v1/grants", headers=bearer(token))
    assert resp.status == 403
    # a forged scope claim fails the signature
    header, payload, sig = w.tokens["firm"].split(".")
    raw = orjson.loads(base64.urlsafe_b64decode(payload + "=="))
    raw["scope"] = "read write manage"
    await assert_refused_token(w, f"{header}.{b64(raw)}.{sig}")


# -- another municipality's data -----------------------------------------------------------

async def test_other_municipality_by_id(w: World) -> None:
    resp = await w.http.get(BASE + f"/entities/{ANY_NAGANO}1", headers=w.auth("ueda"))
    missing = await w.http.get(BASE + f"/entities/{ANY_NAGANO}999", headers=w.auth("ueda"))
    assert resp.status == missing.status == 404  # indistinguishable from a missing entity
    assert (await resp.json())["type"] == (await missing.json())["type"]
    for path in (f"/entities/{ANY_NAGANO}1/attrs", f"/entities/{ANY_NAGANO}1?attrs=rain"):
        r = await w.http.get(BASE + path, headers=w.auth("ueda"))
        assert r.status in (404, 405)


@pytest.mark.parametrize("query", [
    "q=rain>0", "attrs=rain", "idPattern=.*", "idPattern=urn:ngsi-ld:Gauge:nagano-.*",
    "type=Gauge&idPattern=.*nagano.*", "id=urn:ngsi-ld:Gauge:nagano-1&type=Gauge",
    "type=Gauge,River&q=rain>=0", "local=true",
])
async def test_other_municipality_by_query(w: World, query: str) -> None:
    resp = await w.http.get(BASE + f"/entities?{query}&count=true&limit=100",
                            headers=w.auth("ueda"))
    assert resp.status in (200, 400), await resp.text()
    if resp.status == 200:
        assert not [e for e in await resp.json() if e["id"].startswith(ANY_NAGANO)]
        n = int(resp.headers["NGSILD-Results-Count"])
        assert n == len([e for e in await resp.json()])  # the count reveals nothing more


async def test_other_municipality_by_batch(w: World) -> None:
    resp = await w.http.post(BASE + "/entityOperations/query", headers=w.auth("ueda", **JSON),
                             json={"type": "Query", "entities": [{"idPattern": ".*"}]})
    assert resp.status == 200
    assert not [e for e in await resp.json() if e["id"].startswith(ANY_NAGANO)]
    update = [{"id": f"{ANY_NAGANO}{n}", "type": "Gauge",
               "rain": {"type": "Property", "value": 0.0}} for n in (1, 2)]
    for op in ("upsert", "update", "merge"):
        resp = await w.http.post(BASE + f"/entityOperations/{op}", json=update,
                                 headers=w.auth("ueda", **JSON))
        assert resp.status in (207, 400, 403), (op, await resp.text())
        if resp.status == 207:
            body = await resp.json()
            failed = sorted(e["entityId"] for e in body.get("errors", []))
            assert failed == [f"{ANY_NAGANO}1", f"{ANY_NAGANO}2"], (op, body)
            assert not body.get("success"), (op, body)
    resp = await w.http.post(BASE + "/entityOperations/delete",
                             json=[f"{ANY_NAGANO}1", f"{ANY_NAGANO}2"],
                             headers=w.auth("ueda", **JSON))
    assert resp.status == 207
    assert sorted(e["entityId"] for e in (await resp.json())["errors"]) == [
        f"{ANY_NAGANO}1", f"{ANY_NAGANO}2"]
    for path in (f"/entities/{ANY_NAGANO}1", f"/entities/{ANY_NAGANO}1/attrs/rain"):
        resp = await w.http.delete(BASE + path, headers=w.auth("ueda"))
        assert resp.status in (403, 404), path
    resp = await w.http.delete(BASE + f"/entities/{ANY_NAGANO}1", headers=w.auth("pref"))
    assert resp.status == 403  # the prefecture reads by default, but never deletes
    resp = await w.http.get(BASE + f"/entities/{ANY_NAGANO}1", headers=w.auth("nagano"))
    assert (await resp.json())["rain"]["value"] == 15.0


async def test_purge_touches_only_own_data(world: World) -> None:
    """Not an attack: Ueda's purge of type Gauge deletes Ueda's gauges only."""
    resp = await world.http.delete(BASE + "/entities?type=Gauge", headers=world.auth("ueda"))
    assert resp.status == 204
    resp = await world.http.get(BASE + "/entities?type=Gauge&count=true",
                                headers=world.auth("nagano"))
    assert resp.headers["NGSILD-Results-Count"] == "3"


async def test_custom_context_cannot_remap_a_type_into_a_grant(w: World,
                                                              digest: Digest) -> None:
    await w.grant({"owner": UEDA, "entity_type": GAUGE, "actions": ["read"],
                   "purpose": "flood-app", "valid_from": "2026-01-01T00:00:00Z",
                   "valid_until": LATER}, "firm")
    ctx = {"@context": {"Loans": GAUGE, "Gauge": "https://evil.example/Loans",
                        "rain": "https://uri.etsi.org/ngsi-ld/default-context/count"}}
    resp = await w.http.post(BASE + "/jsonldContexts", json=ctx, headers=w.auth("ueda", **JSON))
    assert resp.status == 201
    await digest.seal()
    link = (f'<{resp.headers["Location"]}>; rel="http://www.w3.org/ns/json-ld#context";'
            ' type="application/ld+json"')
    for t in ("Loans", "Gauge"):
        r = await w.http.get(BASE + f"/entities?type={t}", headers=w.auth("firm", Link=link))
        assert r.status == 200
        got = [e["id"] for e in await r.json()]
        # "Loans" now names the Gauge IRI: only the granted Ueda gauges, never Nagano's
        # gauges nor Ueda's loans; "Gauge" names an IRI nobody uses: nothing
        expected = [f"urn:ngsi-ld:Gauge:ueda-{n}" for n in range(3)] if t == "Loans" else []
        assert sorted(got) == expected, (t, got)


async def test_hidden_attributes_cannot_be_counted_or_filtered(w: World,
                                                              digest: Digest) -> None:
    await w.grant({"dataset": "nagano-rain", "actions": ["read"], "purpose": "flood-app",
                   "valid_from": "2026-01-01T00:00:00Z", "valid_until": LATER,
                   "attributes": [RAIN]}, "firm")
    await digest.seal()
    visible = await w.http.get(BASE + "/entities?type=Gauge&q=rain>0&count=true",
                               headers=w.auth("firm"))
    assert visible.headers["NGSILD-Results-Count"] == "3"
    for query in ("q=battery>50", "q=battery<50", "q=battery", "attrs=battery",
                  "orderBy=battery", "q=rain>0;battery>50"):
        resp = await w.http.get(BASE + f"/entities?type=Gauge&{query}&count=true",
                                headers=w.auth("firm"))
        if resp.status == 200:
            assert resp.headers["NGSILD-Results-Count"] == "0", query
            assert await resp.json() == []
        else:
            assert resp.status == 403, query
    body = await (await w.http.get(BASE + "/entities?type=Gauge",
                                   headers=w.auth("firm"))).json()
    assert body and all("battery" not in e for e in body)


async def test_hidden_attribute_rejected_when_readable_nowhere(world: World,
                                                              digest: Digest) -> None:
    """Without any open dataset the attribute is readable nowhere: 403, not an empty list."""
    async with world.http.app[keys.POOL].acquire() as con:
        await con.execute("UPDATE registry.datasets SET open_data = false")
    await world.refresh()
    await world.grant({"dataset": "nagano-rain", "actions": ["read"], "purpose": "flood-app",
                       "valid_from": "2026-01-01T00:00:00Z", "valid_until": LATER,
                       "attributes": [RAIN]}, "firm")
    await digest.seal()
    resp = await world.http.get(BASE + "/entities?type=Gauge&q=battery>50",
                                headers=world.auth("firm"))
    assert resp.status == 403 and (await resp.json())["status"] == 403


# -- grants: period, purpose, subscriptions --------------------------------------------------

async def test_grant_after_its_end_date(w: World, digest: Digest) -> None:
    end = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    await w.grant({"dataset": "nagano-rain", "actions": ["read"], "purpose": "flood-app",
                   "valid_from": "2026-01-01T00:00:00Z", "valid_until": end}, "firm")
    await digest.seal()
    resp = await w.http.get(BASE + f"/entities/{ANY_NAGANO}1", headers=w.auth("firm"))
    assert resp.status == 200
    await asyncio.sleep(2.2)
    resp = await w.http.get(BASE + f"/entities/{ANY_NAGANO}1", headers=w.auth("firm"))
    assert resp.status == 404
    resp = await w.http.get(BASE + "/entities?type=Gauge", headers=w.auth("firm"))
    assert await resp.json() == []


async def test_grant_used_with_another_purpose(w: World, digest: Digest) -> None:
    await w.grant({"dataset": "nagano-rain", "actions": ["read"], "purpose": "flood-app",
                   "valid_from": "2026-01-01T00:00:00Z", "valid_until": LATER}, "firm")
    token = await w.login("firm-nopurpose", FIRM, ["read"])
    await w.refresh()
    await digest.seal()
    resp = await w.http.get(BASE + f"/entities/{ANY_NAGANO}1",
                            headers=w.auth("firm", **{"Renkei-Purpose": "marketing"}))
    assert resp.status == 404
    resp = await w.http.get(BASE + "/entities?type=Gauge",
                            headers=w.auth("firm", **{"Renkei-Purpose": "marketing"}))
    assert await resp.json() == []
    resp = await w.http.get(BASE + f"/entities/{ANY_NAGANO}1", headers=bearer(token))
    assert resp.status == 404


async def test_subscribing_to_a_type_it_may_not_read(w: World) -> None:
    sub = {"type": "Subscription", "entities": [{"type": "Gauge"}],
           "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify"}}}
    resp = await w.http.post(BASE + "/subscriptions", json=sub, headers=w.auth("firm", **JSON))
    assert resp.status == 403, await resp.text()
    resp = await w.http.post(BASE + "/subscriptions", json=sub, headers=JSON)
    assert resp.status == 401
    listed = await w.http.get(BASE + "/subscriptions", headers=w.auth("firm"))
    assert listed.status != 200 or await listed.json() == []


async def test_revoked_grant_stops_what_a_subscriber_may_see(world: World) -> None:
    """Not an attack (the owner revokes): the check the notification sender applies when
    it sends; after the grant is revoked, the same entity yields nothing for the
    subscriber."""
    w = world
    gid = await w.grant({"dataset": "nagano-rain", "actions": ["read", "subscribe"],
                         "purpose": "flood-app", "valid_from": "2026-01-01T00:00:00Z",
                         "valid_until": LATER, "attributes": [RAIN]}, "firm")
    state = w.http.app[keys.ACCESS]
    async with w.http.app[keys.POOL].acquire() as con:
        from hub.store import entities as store

        ent = await store.fetch_entity(con, '"ngsild"', f"{ANY_NAGANO}1")
    assert ent is not None
    from authz.policies import Defaults
    from hub.service.access import subscriber_caller

    record = {"organisation": FIRM, "client_id": w.clients["firm"]["client_id"],
              "scopes": ["read", "subscribe"], "purpose": "flood-app"}
    subscriber = subscriber_caller({"id": "urn:sub", "subscriber": record}, state, Defaults(),
                                   dev=False)
    shown = may_see(subscriber, ent)
    assert shown is not None and RAIN in shown["attrs"] and len(shown["attrs"]) == 1
    resp = await w.http.post(f"/authz/v1/grants/{gid}/revoke", json={},
                             headers=w.auth("nagano-admin"))
    assert resp.status == 200
    assert may_see(subscriber, ent) is None


# -- headers, rate, paths ----------------------------------------------------------------

async def test_tenant_header_spoofing(w: World, digest: Digest) -> None:
    # Ueda's own tenant write is set-up; the digest is sealed after it
    resp = await w.http.post(BASE + "/entities", json=gauge("ueda", 7, 1.0),
                             headers=w.auth("ueda", **JSON, **{"NGSILD-Tenant": "ueda"}))
    assert resp.status == 201
    await digest.seal()
    resp = await w.http.get(BASE + "/entities?type=Gauge",
                            headers=w.auth("firm", **{"NGSILD-Tenant": "ueda"}))
    assert resp.status == 200 and await resp.json() == []
    resp = await w.http.get(BASE + "/entities?type=Gauge",
                            headers=w.auth("nagano", **{"NGSILD-Tenant": "ueda"}))
    assert await resp.json() == []
    resp = await w.http.post(BASE + "/entities", json=gauge("nagano", 8, 1.0),
                             headers={**JSON, "NGSILD-Tenant": "evil"})
    assert resp.status == 401
    resp = await w.http.post(BASE + "/entities", json=gauge("ueda", 8, 1.0),
                             headers=w.auth("nagano", **JSON, **{"NGSILD-Tenant": "ueda"}))
    assert resp.status == 403


@pytest.mark.parametrize("headers", [
    {"X-Organisation": NAGANO}, {"X-Forwarded-User": NAGANO}, {"Fiware-Service": "nagano"},
    {"X-Auth-Token": "anything"}, {"X-Client-Id": "nagano"}, {"Renkei-Purpose": "flood-app"},
    {"X-Renkei-Organisation": NAGANO, "X-Forwarded-For": "127.0.0.1"},
])
async def test_client_supplied_identity_headers_are_ignored(w: World,
                                                            headers: dict[str, str]) -> None:
    resp = await w.http.get(BASE + f"/entities/{ANY_NAGANO}1", headers=headers)
    assert resp.status == 404
    resp = await w.http.patch(BASE + f"/entities/{ANY_NAGANO}1", headers={**headers, **JSON},
                              json={"rain": {"type": "Property", "value": 0}})
    assert resp.status == 401
    resp = await w.http.get(BASE + f"/entities/{ANY_NAGANO}1",
                            headers=w.auth("ueda", **headers))
    assert resp.status == 404


async def test_rate_over_the_limit(w: World, digest: Digest) -> None:
    client = await w.new_client("slow", FIRM, ["read"], rate_per_minute=3)
    status, body = await w.token(client)
    assert status == 200
    token = body["access_token"]
    await w.refresh()
    await digest.seal()
    if datetime.now(UTC).second >= 55:  # windows are calendar minutes: stay inside one
        await asyncio.sleep(61 - datetime.now(UTC).second)
    seen = []
    for _ in range(5):
        resp = await w.http.get(BASE + "/entities?type=River", headers=bearer(token))
        seen.append(resp.status)
        if resp.status == 429:
            assert 1 <= int(resp.headers["Retry-After"]) <= 60
            assert (await resp.json())["status"] == 429
    assert seen[:3] == [200, 200, 200] and seen[3:] == [429, 429]


@pytest.mark.parametrize("path", [
    "/ngsi-ld/v1/entities/%2e%2e/entities?type=Gauge",
    "/ngsi-ld/v1/%2e%2e/v1/entities?type=Gauge",
    "/ngsi-ld/v1/entities/%252e%252e/entities?type=Gauge",
    "/ngsi-ld/%2e%2e/ngsi-ld/v1/entities/urn:ngsi-ld:Gauge:nagano-1",
    "/ngsi-ld/v1/entities/urn:ngsi-ld:Gauge:ueda-1%2f..%2furn:ngsi-ld:Gauge:nagano-1",
    "/ngsi-ld/v1//entities/urn:ngsi-ld:Gauge:nagano-1",
    "/NGSI-LD/v1/entities/urn:ngsi-ld:Gauge:nagano-1",
    "/authz/../ngsi-ld/v1/entities/urn:ngsi-ld:Gauge:nagano-1",
    "/oauth2/%2e%2e/ngsi-ld/v1/entities/urn:ngsi-ld:Gauge:nagano-1",
])
async def test_path_tricks(w: World, path: str) -> None:
    from yarl import URL

    url = URL(str(w.http.make_url("/")).rstrip("/") + path, encoded=True)
    async with w.http.session.get(url, headers=w.auth("ueda")) as resp:
        text = await resp.text()
        assert resp.status in (400, 401, 404, 405), (path, resp.status, text)
        assert "nagano-1" not in text or (resp.status == 404 and '"rain"' not in text)
    async with w.http.session.request("DELETE", url) as resp:
        assert resp.status in (400, 401, 404, 405), (path, resp.status)


async def test_writing_over_a_hidden_entity_names_neither_its_owner_nor_its_dataset(
        w: World) -> None:
    """An id is unique across the hub, so writing to a taken one must fail; but an
    organisation that may not see the entity learns only that the id is taken — not whose
    it is or which dataset holds it — whether it upserts, replaces or creates."""
    taken = {"id": f"{ANY_NAGANO}1", "type": "Loans",  # Ueda's own Loans rule matches it
             "count": {"type": "Property", "value": 1}}
    answers = [
        await w.http.post(BASE + "/entityOperations/upsert", json=[taken],
                          headers=w.auth("ueda", **JSON)),
        await w.http.post(BASE + "/entities", json=taken, headers=w.auth("ueda", **JSON)),
    ]
    for resp in answers:
        text = await resp.text()
        assert resp.status in (207, 409), text
        assert "nagano-rain" not in text and NAGANO not in text, text
        body = orjson.loads(text)
        error = body["errors"][0]["error"] if resp.status == 207 else body
        assert error["type"] == "https://uri.etsi.org/ngsi-ld/errors/AlreadyExists", body
